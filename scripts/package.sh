#!/usr/bin/env bash
# make package: every function built for Lambda's arm64 in one cargo-lambda invocation
# (zig, from cargo-lambda's pip package, links for aarch64), the `deploy` profile of
# Cargo.toml, into target/lambda/<function>/bootstrap: the folders the template's CodeUri
# names, so `sam deploy` uploads exactly these files. Writes target/lambda/package.json
# (build time, profile, commit, clean tree or not, each bootstrap's size and sha256), which
# `make rehearse` and `make deploy` read.
#
# CARGO_LAMBDA: the cargo-lambda to use (default: the one `make tools` installs).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CARGO_LAMBDA=${CARGO_LAMBDA:-$ROOT/.tools/venv/bin/cargo-lambda}
# cargo-lambda finds zig as the pip package's `python-zig`, next to it.
export PATH="$(dirname "$CARGO_LAMBDA"):$PATH"
cd "$ROOT"

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

start=$SECONDS
"$CARGO_LAMBDA" lambda build --profile deploy --arm64 --workspace --exclude clientele-bench --exclude clientele-tests
seconds=$((SECONDS - start))

python3 - "$seconds" <<'PY'
import hashlib, json, pathlib, subprocess, sys

root = pathlib.Path(".")
functions = sorted(p.name for p in (root / "functions").iterdir() if (p / "Cargo.toml").is_file())
out = root / "target/lambda"
missing = [f for f in functions if not (out / f / "bootstrap").is_file()]
if missing:
    sys.exit(f"make package: no bootstrap for {missing}")
git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
bootstraps = {}
for f in functions:
    data = (out / f / "bootstrap").read_bytes()
    if data[:4] != b"\x7fELF" or int.from_bytes(data[18:20], "little") != 183:  # EM_AARCH64
        sys.exit(f"make package: {f}/bootstrap is not an arm64 ELF executable")
    bootstraps[f] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
report = {"seconds": int(sys.argv[1]), "profile": "deploy", "target": "aarch64-unknown-linux-gnu",
          "commit": git("rev-parse", "--short", "HEAD"), "clean": git("status", "--porcelain") == "",
          "bootstraps": bootstraps}
(out / "package.json").write_text(json.dumps(report, indent=1) + "\n")
sizes = [b["bytes"] for b in bootstraps.values()]
big = max(bootstraps, key=lambda f: bootstraps[f]["bytes"])
print(f"package: {len(sizes)} arm64 bootstraps in {report['seconds']} s (commit {report['commit']}"
      f"{'' if report['clean'] else ', uncommitted changes'}); {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB "
      f"(largest {big}), {sum(sizes) / 1e6:.1f} MB in all -> target/lambda/")
PY
