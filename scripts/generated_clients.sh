#!/usr/bin/env bash
# Generated clients work (run by `scripts/stack.sh test` against its stack): the Python client
# openapi-python-client makes from the served OpenAPI document, with any generator warning a
# failure, runs a workflow (tests/generated/workflow.py); the TypeScript types openapi-typescript
# makes type-check a script that uses them (tests/generated/usage.ts) under tsc --strict.
#
#   scripts/generated_clients.sh <base url> <admin key> <work dir>
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
BASE=$1 ADMIN=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK/ts"
"$TOOLS/venv/bin/python" "$ROOT/scripts/fetch_openapi.py" "$BASE" "$WORK/openapi.json"

printf 'post_hooks: []\nproject_name_override: clientele_client\npackage_name_override: clientele_client\n' >"$WORK/config.yaml"
"$TOOLS/venv/bin/openapi-python-client" generate --path "$WORK/openapi.json" --meta none \
  --output-path "$WORK/python/clientele_client" --config "$WORK/config.yaml" >"$WORK/generate.log" 2>&1 || {
  echo "openapi-python-client failed:"; cat "$WORK/generate.log"; exit 1; }
if grep -qiE "warning|unable|could not|error" "$WORK/generate.log"; then
  echo "openapi-python-client warned about the document:"; cat "$WORK/generate.log"; exit 1
fi
PYTHONPATH="$WORK/python" "$TOOLS/venv/bin/python" "$ROOT/tests/generated/workflow.py" "$BASE" "$ADMIN" >"$WORK/workflow.log" 2>&1 || {
  echo "the generated Python client's workflow failed:"; cat "$WORK/workflow.log"; exit 1; }
tail -n 1 "$WORK/workflow.log"

"$TOOLS/node/node_modules/.bin/openapi-typescript" "$WORK/openapi.json" -o "$WORK/ts/api.d.ts" >"$WORK/ts.log" 2>&1 || {
  echo "openapi-typescript failed:"; cat "$WORK/ts.log"; exit 1; }
cp "$ROOT/tests/generated/usage.ts" "$WORK/ts/usage.ts"
"$TOOLS/node/node_modules/.bin/tsc" --strict --noEmit --target es2022 --module es2022 --moduleResolution bundler \
  "$WORK/ts/usage.ts" || { echo "tsc: the generated TypeScript types do not fit tests/generated/usage.ts"; exit 1; }
echo "generated TypeScript types: tests/generated/usage.ts type-checks"
