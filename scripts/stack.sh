#!/usr/bin/env bash
# The local stack: DynamoDB Local + the API served by `cargo lambda watch`.
#
#   scripts/stack.sh run    serve on $PORT (default 9000) until Ctrl-C
#   scripts/stack.sh test   serve on free ports, run every test (E2E_FILTER=console: the
#                           browser test alone), clean up
#   scripts/stack.sh faults the fault-injection suite alone, on a stack of its own
#   scripts/stack.sh run-check  starts `run` with PORT and ADMIN_API_KEY set, checks both, stops it
#   scripts/stack.sh rehearse  make rehearse: the arm64 bootstraps under qemu-user, a smoke
#   scripts/stack.sh bench  make bench: BENCHMARKS.md
#   scripts/stack.sh load   make load: partition heat under a concurrent mix, docs/SCALE.md
#   scripts/stack.sh with-store CMD...  CMD beside a fresh DynamoDB Local, in the bench's environment
#
# Expects the tools `make tools` installs under .tools/. Everything it starts
# runs in its own process group and is stopped on exit, however it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
PY="$TOOLS/venv/bin/python"
CARGO_LAMBDA="$TOOLS/venv/bin/cargo-lambda"
DDB_DIR="$TOOLS/dynamodb"
RUN_DIR="${RUN_DIR:-$ROOT/.run}"  # several stacks at once: give each its own
mkdir -p "$RUN_DIR"

PIDS=()
cleanup() {
  local code=$?
  # A store the fault suite restarted is no child of ours: stop it by its pid file.
  if [[ -f "$RUN_DIR/dynamodb.pid" ]]; then
    kill -CONT "$(cat "$RUN_DIR/dynamodb.pid")" 2>/dev/null || true
    kill -KILL -- "-$(cat "$RUN_DIR/dynamodb.pid")" 2>/dev/null || kill -KILL "$(cat "$RUN_DIR/dynamodb.pid")" 2>/dev/null || true
  fi
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill -TERM -- "-$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
  done
  exit "$code"
}
trap cleanup EXIT INT TERM

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for_port() { # port, what, seconds, pid
  for _ in $(seq 1 $(( $3 * 10 ))); do
    if (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$4" 2>/dev/null; then
      echo "$2 exited before listening on port $1; its log:" >&2
      tail -n 30 "$5" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$2 did not come up on port $1" >&2
  return 1
}

random_secret() {
  "$PY" -c 'import secrets; print(secrets.token_urlsafe(48))'
}

start_dynamodb() { # port
  # -inMemory: each run starts empty. Data is kept per access key and region, so
  # every process of the stack uses the same fixed dummy credentials.
  (cd "$DDB_DIR" && exec setsid java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
      -inMemory -port "$1" >"$RUN_DIR/dynamodb.log" 2>&1) &
  PIDS+=($!)
  wait_for_port "$1" "DynamoDB Local" 60 "$!" "$RUN_DIR/dynamodb.log"
}

# DynamoDB Local on disk (-dbPath), for the fault suite: it kills the store and
# starts it again on the same port with $RUN_DIR/dynamodb-restart.sh, and its data
# must survive that. The current process id is kept in $RUN_DIR/dynamodb.pid.
start_durable_dynamodb() { # port
  mkdir -p "$RUN_DIR/dynamodb-data"
  cat >"$RUN_DIR/dynamodb-restart.sh" <<SCRIPT
#!/usr/bin/env bash
# Starts DynamoDB Local (again) on port $1 with the data in $RUN_DIR/dynamodb-data.
cd "$DDB_DIR"
setsid java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \\
  -dbPath "$RUN_DIR/dynamodb-data" -port $1 >>"$RUN_DIR/dynamodb.log" 2>&1 </dev/null &
echo \$! >"$RUN_DIR/dynamodb.pid"
SCRIPT
  chmod +x "$RUN_DIR/dynamodb-restart.sh"
  "$RUN_DIR/dynamodb-restart.sh"
  wait_for_port "$1" "DynamoDB Local" 60 "$(cat "$RUN_DIR/dynamodb.pid")" "$RUN_DIR/dynamodb.log"
}

# Writes the functions' environment to $RUN_DIR/env and exports it here.
# The secrets are also served by the local Secrets Manager (start_secrets), where the
# functions read them as on AWS (each its own SECRETS, from Cargo.toml's metadata); the
# variables are for the tests and the bench, which build the handlers' config in process.
write_env() { # dynamodb port, admin key
  local admin_sha cursor jwt webhook
  admin_sha=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
  cursor=$(random_secret); jwt=$(random_secret); webhook=$(random_secret)
  start_secrets "$cursor" "$jwt" "$webhook" "$admin_sha"
  cat >"$RUN_DIR/env" <<ENV
TABLE_NAME=clientele
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_REGION=us-east-1
AWS_EC2_METADATA_DISABLED=true
CURSOR_SECRET=$cursor
JWT_SECRET=$jwt
WEBHOOK_KEY=$webhook
ADMIN_API_KEY_SHA256=$admin_sha
SECRETS_NAME=clientele
AWS_ENDPOINT_URL_SECRETSMANAGER=http://127.0.0.1:$SECRETS_PORT
SECRETS_REFRESH_SECONDS=${SECRETS_REFRESH_SECONDS:-300}
ALLOW_INSECURE_WEBHOOKS=true
WEBHOOK_LOOPBACK_ONLY=true
WEBHOOK_RETRY_SCHEDULE=${WEBHOOK_RETRY_SCHEDULE:-5s,5m,30m,2h,5h,10h,10h}
RUST_LOG=${RUST_LOG:-info}
KEY_POLICY=${KEY_POLICY:-enforce}
WHOLE_LIST_CAP=${WHOLE_LIST_CAP:-1000}
ENV
}

# The local Secrets Manager (scripts/secrets_server.py): clientele/auth and clientele/webhook
# from $RUN_DIR/secrets.json (rewrite it to rotate them). Sets SECRETS_PORT.
start_secrets() { # cursor secret, jwt secret, webhook key, admin key sha256
  (umask 077; "$PY" -c 'import json,sys; json.dump({"clientele/auth": {"cursorSecret": sys.argv[1], "jwtSecret": sys.argv[2], "adminApiKeySha256": sys.argv[4]}, "clientele/webhook": {"webhookKey": sys.argv[3]}}, open(sys.argv[5], "w"))' \
    "$1" "$2" "$3" "$4" "$RUN_DIR/secrets.json")
  rm -f "$RUN_DIR/secrets.port"
  (exec setsid "$PY" "$ROOT/scripts/secrets_server.py" 0 "$RUN_DIR/secrets.json" "$RUN_DIR/secrets.port" >"$RUN_DIR/secrets.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 1 100); do [[ -s "$RUN_DIR/secrets.port" ]] && break; sleep 0.1; done
  SECRETS_PORT=$(cat "$RUN_DIR/secrets.port")
  wait_for_port "$SECRETS_PORT" "the local Secrets Manager" 10 "${PIDS[-1]}" "$RUN_DIR/secrets.log"
}

# No CORS, as on AWS (the template configures none; the console is served from the API's
# own origin): the emulator's default would let any page's script read the answers.
# The emulator runs in an empty folder of its own, given the workspace by --manifest-path:
# each function instance it starts puts an inotify watch on every folder under its working
# directory, even with --ignore-changes (about 4 600 for this tree). Over the machine's
# watch limit an instance's watcher fails silently, and the emulator keeps counting that
# instance while no process stands behind it (docs/EMULATOR.md). One folder, one watch.
start_api() { # port, extra watch flags...
  local port=$1; shift
  mkdir -p "$RUN_DIR/emulator"
  (cd "$RUN_DIR/emulator" && exec setsid "$CARGO_LAMBDA" lambda watch --manifest-path "$ROOT/Cargo.toml" \
      --invoke-address 127.0.0.1 --invoke-port "$port" --disable-cors \
      --env-file "$RUN_DIR/env" --concurrency "${CONCURRENCY:-4}" "$@" >"$RUN_DIR/api.log" 2>&1) &
  PIDS+=($!)
  API_PID=$!
  wait_for_port "$port" "the API" 300 "$!" "$RUN_DIR/api.log"
}

# The local stand-in for the stream -> deliver-webhooks mapping: the same function
# binary in polling mode, kept running (a killed poller is restarted and resumes
# from its checkpoint, as Lambda would retry a batch).
start_poller() {
  rm -f "$RUN_DIR/stream-checkpoint.json" "$RUN_DIR/poller.pid"
  (exec setsid bash -c '
      set -a; source "$1/env"; set +a
      export LOCAL_STREAM_POLL=1 LOCAL_STREAM_CHECKPOINT="$1/stream-checkpoint.json" SECRETS=webhook
      while true; do
        "$2" & echo $! >"$1/poller.pid"; wait $!
        sleep 0.3
      done' poller "$RUN_DIR" "$ROOT/target/debug/deliver-webhooks" >"$RUN_DIR/poller.log" 2>&1) &
  PIDS+=($!)
}

# The fault suite's proxy between the functions and DynamoDB Local (scripts/store_faults.py):
# throttling, contention cancellations and transactions in progress, which DynamoDB Local
# never answers. Sets STORE_FAULTS_PORT.
start_store_faults() { # dynamodb port
  rm -f "$RUN_DIR/store-faults.port"
  (exec setsid "$PY" "$ROOT/scripts/store_faults.py" 0 "http://127.0.0.1:$1" "$RUN_DIR/store-faults.port" \
      >"$RUN_DIR/store-faults.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 1 100); do [[ -s "$RUN_DIR/store-faults.port" ]] && break; sleep 0.1; done
  STORE_FAULTS_PORT=$(cat "$RUN_DIR/store-faults.port")
  wait_for_port "$STORE_FAULTS_PORT" "the store fault proxy" 10 "${PIDS[-1]}" "$RUN_DIR/store-faults.log"
}

stack() { # api port, dynamodb port, admin key, watch flags...
  local api=$1 ddb=$2 admin=$3; shift 3
  if [[ "${DURABLE_STORE:-}" == 1 ]]; then start_durable_dynamodb "$ddb"; else start_dynamodb "$ddb"; fi
  if [[ "${STORE_FAULTS:-}" == 1 ]]; then
    # The functions reach the store through the fault proxy; the tests reach it directly.
    start_store_faults "$ddb"
    write_env "$STORE_FAULTS_PORT" "$admin"
  else
    write_env "$ddb" "$admin"
  fi
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
    "$PY" "$ROOT/infra/create_table.py" --endpoint "http://127.0.0.1:$ddb" --table clientele
  start_poller
  start_api "$api" "$@"
}

# The stack of the bench and of the load run, which call the handlers in process:
# DynamoDB Local and its table on a free port, the functions' environment exported.
in_process_stack() {
  local admin ddb
  admin="ck_live_bench_admin_$(random_secret | tr -dc 'A-Za-z0-9' | head -c 24)"
  ddb=$(free_port)
  start_dynamodb "$ddb"
  write_env "$ddb" "$admin"
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
    "$PY" "$ROOT/infra/create_table.py" --endpoint "http://127.0.0.1:$ddb" --table clientele
  set -a; source "$RUN_DIR/env"; set +a
  # Measured as deployed: no local key-policy check in the functions.
  export RUST_LOG=warn BENCH_ADMIN_KEY="$admin" BENCH_ROOT="$ROOT" KEY_POLICY=off
}

# Builds clientele-bench (the deploy profile, or a debug build with `dev`: for working on
# the bench, its timings mean nothing) and sets BENCH_BIN.
bench_binary() { # profile
  if [[ "$1" == dev ]]; then
    (cd "$ROOT" && cargo build -p clientele-bench); BENCH_BIN="$ROOT/target/debug/clientele-bench"
  else
    (cd "$ROOT" && cargo build --release -p clientele-bench); BENCH_BIN="$ROOT/target/release/clientele-bench"
  fi
}

# A key-policy denial (the local stand-in for IAM, infra/access.tsv) is a missing policy
# line that would fail on AWS: any one in a run's logs fails the run, whatever the tests saw.
no_access_denied() { # what
  local found
  found=$(grep -hE '"access_denied"|access_denied|AccessDenied by the key policy' "$RUN_DIR/api.log" "$RUN_DIR/poller.log" 2>/dev/null | head -n 5 || true)
  if [[ -n "$found" ]]; then
    echo "$1: the key policy (infra/access.tsv) denied a DynamoDB access; the first lines:" >&2
    echo "$found" >&2
    return 1
  fi
}

# The variables that narrow or soften `make test` (plus every FUZZ_*): a developer's
# knobs for working on one area, refused under CI.
NARROWING=(E2E_FILTER FAULTS_FILTER KEY_POLICY TEST_THREADS CONCURRENCY WEBHOOK_RETRY_SCHEDULE WHOLE_LIST_CAP RUST_LOG)

# What the local emulator and the function processes said outside our JSON log lines
# (an instance that exited, a request the emulator dropped): the first place to look
# when a test saw the emulator's own 500.
emulator_errors() {
  echo "--- the API log's lines that are not ours (emulator and process errors) ---"
  grep -v '^{' "$RUN_DIR/api.log" | grep -E 'ERROR|WARN|Error|panicked' | tail -n 40 || true
}

# One schemathesis run over every route of the served OpenAPI document: its own exit
# status decides (a finding, a crash, a document it cannot load: all fail). The only
# failure forgiven is the local emulator's own 500 for a non-UTF-8 request, and a GET
# that got that 500 is sent once more (an answer over 8 KB it lost), both named
# precisely in infra/schemathesis_hooks.py. One worker: Hypothesis's own bookkeeping
# is not thread-safe (its internal errors would fail the run for nothing). The
# request timeout leaves room for the emulator's cold start of a function (`cargo
# run`, which waits for other builds' cargo lock); the 10 s deadline is the e2e and
# fault suites' to hold.
fuzz() { # label, key, schemathesis arguments...
  local label=$1 key=$2 code=0; shift 2
  (cd "$RUN_DIR" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/infra" \
    "$TOOLS/venv/bin/schemathesis" run "$RUN_DIR/openapi.json" --url "$CLIENTELE_URL" -H "X-API-Key: $key" \
      --seed "${FUZZ_SEED:-1}" --workers "${FUZZ_WORKERS:-1}" --max-examples "${FUZZ_EXAMPLES:-10}" \
      --request-timeout "${FUZZ_REQUEST_TIMEOUT:-30}" --request-retries 2 "$@" \
      >"$RUN_DIR/schemathesis-$label.log" 2>&1) || code=$?
  echo "schemathesis ($label): exit $code; $(grep -E '[0-9]+ generated' "$RUN_DIR/schemathesis-$label.log" | tail -n 1 | xargs)"
  if [[ $code -ne 0 ]]; then
    echo "schemathesis ($label) failed; the end of .run/schemathesis-$label.log:"
    tail -n 120 "$RUN_DIR/schemathesis-$label.log"
  fi
  return $code
}

# The fuzzing of `make test`: as the platform admin, as a partner, and as a second
# partner against the first one's ids (only 404s may come back for those).
# End-to-end tests that time webhook deliveries, run on their own after the others.
QUIET_TESTS=(hostile_receivers:: delivery_faults::)

# Waits until the webhook poller has taken every stream record (its checkpoint stops
# moving for 3 s; at most 2 minutes) and says how long that took.
poller_caught_up() {
  local last="" still=0 waited=$SECONDS now
  for _ in $(seq 1 600); do
    now=$( (md5sum <"$RUN_DIR/stream-checkpoint.json") 2>/dev/null || true)
    if [[ "$now" == "$last" ]]; then still=$((still + 1)); else still=0; last="$now"; fi
    [[ $still -ge 15 ]] && break
    sleep 0.2
  done
  echo "webhook poller: caught up with $1 in $((SECONDS - waited)) s"
}

fuzz_all() {
  local checks=not_a_server_error,response_schema_conformance,content_type_conformance
  # Each pass starts without what an earlier one learned (schemathesis keeps it under
  # .schemathesis/ and would replay one caller's 400s as another's constraints).
  # Called as `fuzz_all || status=$?`, where bash ignores `set -e`: every step below
  # returns its own failure.
  rm -rf "$RUN_DIR/.schemathesis" || return $?
  # The document, read once (schemathesis would give its own first request only 10 s).
  "$PY" "$ROOT/scripts/fetch_openapi.py" "$CLIENTELE_URL" "$RUN_DIR/openapi.json" || return $?
  # The admin names a partner for what it creates (the hooks add this one); the reseller
  # portal serves resellers only, so the admin's pass leaves it to the partners' passes.
  # Its id, and its number (the partner API's integer id).
  local admin_partner admin_number
  read -r admin_partner admin_number < <("$PY" -c 'import json, sys, urllib.request as u
req = u.Request(sys.argv[1] + "/v1/partners", json.dumps({"name": "fuzz-admin-" + sys.argv[3]}).encode(),
                {"x-api-key": sys.argv[2], "content-type": "application/json"})
p = json.load(u.urlopen(req, timeout=60))
print(p["id"], p["number"])' "$CLIENTELE_URL" "$ADMIN" "$(random_secret | tr -dc 'a-z0-9' | head -c 12)")
  [[ -n "$admin_number" ]] || { echo "could not create the admin pass's partner" >&2; return 1; }
  FUZZ_PARTNER_ID=$admin_partner FUZZ_PARTNER_NUMBER=$admin_number fuzz admin "$ADMIN" --checks "$checks" --phases examples,coverage,fuzzing \
    --exclude-path-regex '^/api/v1/portal/' || return $?
  rm -rf "$RUN_DIR/.schemathesis"
  "$PY" "$ROOT/scripts/fuzz_tenants.py" "$CLIENTELE_URL" "$ADMIN" "$RUN_DIR/tenants.json" || return $?
  "$PY" -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["a_ids"], open(sys.argv[2], "w"))' \
    "$RUN_DIR/tenants.json" "$RUN_DIR/foreign-ids.json" || return $?
  local a_key b_key
  a_key=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["a_key"])' "$RUN_DIR/tenants.json") || return $?
  b_key=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["b_key"])' "$RUN_DIR/tenants.json") || return $?
  # Another tenant's ids first (the partner's own run may change them), on every
  # operation with a path parameter.
  rm -f "$RUN_DIR/foreign-seen"
  FUZZ_FOREIGN_IDS="$RUN_DIR/foreign-ids.json" FUZZ_FOREIGN_SEEN="$RUN_DIR/foreign-seen" FUZZ_EXAMPLES="${FUZZ_FOREIGN_EXAMPLES:-5}" \
    fuzz foreign-ids "$b_key" --checks "$checks,foreign_ids_are_not_found" --phases examples,fuzzing \
      --include-path-regex '[{]' || return $?
  # The pass checked something: every one of the other tenant's ids went into a path.
  "$PY" -c 'import json, sys
ids = set(json.load(open(sys.argv[1])))
seen = set(open(sys.argv[2]).read().split()) if __import__("os").path.exists(sys.argv[2]) else set()
if ids - seen:
    sys.exit(f"the foreign-ids pass never sent {sorted(ids - seen)} in a path: it proved nothing of them")
print(f"foreign ids: each of the {len(ids)} went into a path ({len(seen)} names seen)")' "$RUN_DIR/foreign-ids.json" "$RUN_DIR/foreign-seen" || return $?
  rm -rf "$RUN_DIR/.schemathesis"
  FUZZ_EXAMPLES="${FUZZ_PARTNER_EXAMPLES:-5}" fuzz partner "$a_key" --checks "$checks" --phases examples,coverage,fuzzing
}

case "${1:-}" in
  run)
    PORT=${PORT:-9000}
    ADMIN=${ADMIN_API_KEY:-ck_live_admin_$(random_secret | tr -dc 'A-Za-z0-9' | head -c 32)}
    (cd "$ROOT" && cargo build --workspace --bins)
    stack "$PORT" "$(free_port)" "$ADMIN"
    cat <<MSG

  Clientele is serving at http://127.0.0.1:$PORT/v1
  Platform admin API key: $ADMIN
  (send it as X-API-Key; set ADMIN_API_KEY to choose your own)
  Console (sign in with a key or a teammate): http://127.0.0.1:$PORT/console
  Webhooks are delivered by the local stream poller (.run/poller.log).
  Logs: .run/api.log, .run/dynamodb.log. Ctrl-C stops everything.

MSG
    tail -f "$RUN_DIR/api.log" &
    PIDS+=($!)
    wait "$API_PID"
    ;;
  test)
    # A CI run is the whole suite as written: nothing inherited may narrow or soften it.
    narrowing=$(env | cut -d= -f1 | grep -E "^($(IFS='|'; echo "${NARROWING[*]}"))$|^FUZZ_" | sort | xargs || true)
    if [[ -n "${CI:-}" && -n "$narrowing" ]]; then
      echo "make test under CI refuses to run with $narrowing set: a CI run is every test, unfiltered" >&2
      exit 2
    fi
    # Every cargo call selects the whole workspace (--workspace): the same features are then
    # unified for every build and test, so no dependency is compiled twice.
    (cd "$ROOT" && cargo build --workspace --bins --tests)
    # Webhook retries in seconds, so the tests can watch a whole schedule.
    export WEBHOOK_RETRY_SCHEDULE="${WEBHOOK_RETRY_SCHEDULE:-1s,1s,2s}"
    # The hosting API's whole-list cap, low enough for a test to reach it.
    export WHOLE_LIST_CAP="${WHOLE_LIST_CAP:-25}"
    API_PORT=$(free_port)
    ADMIN="ck_live_test_admin_$(random_secret | tr -dc 'A-Za-z0-9' | head -c 24)"
    stack "$API_PORT" "$(free_port)" "$ADMIN" --ignore-changes
    # The tests reach the API, and DynamoDB Local itself to move time forward (age a trial).
    export CLIENTELE_URL="http://127.0.0.1:$API_PORT" CLIENTELE_ADMIN_KEY="$ADMIN" \
      CLIENTELE_DYNAMODB_URL="$(grep '^AWS_ENDPOINT_URL_DYNAMODB=' "$RUN_DIR/env" | cut -d= -f2-)" \
      CLIENTELE_JWT_SECRET="$(grep '^JWT_SECRET=' "$RUN_DIR/env" | cut -d= -f2-)" \
      CLIENTELE_POLLER_PID_FILE="$RUN_DIR/poller.pid" CLIENTELE_ENV_FILE="$RUN_DIR/env"
    status=0
    # Unit tests; schemathesis over every route of the served OpenAPI document (no 5xx,
    # no response that breaks the document); then the end-to-end suite, whose summary
    # closes the run.
    # E2E_FILTER=<name>: only the end-to-end tests whose names contain it (no unit tests, no
    # fuzzing); for working on one area. `make test` runs everything.
    if [[ -z "${E2E_FILTER:-}" ]]; then
      # The library's unit tests and the bench's (a binary crate, which --lib skips).
      (cd "$ROOT" && cargo test --workspace --lib --bin clientele-bench --test webhook_client --test webhook_proxy) || status=$?
    fi
    if [[ $status -eq 0 && -z "${E2E_FILTER:-}" ]]; then
      "$ROOT/scripts/generated_clients.sh" "$CLIENTELE_URL" "$ADMIN" "$RUN_DIR/generated" || status=$?
    fi
    if [[ $status -eq 0 && -z "${E2E_FILTER:-}" ]]; then
      # The fuzzing's hooks themselves, against a small local server, then the fuzzing.
      (cd "$ROOT/infra" && "$PY" -m unittest test_schemathesis_hooks) || status=$?
      # make deploy's check that it ships exactly the rehearsed bytes.
      (cd "$ROOT/scripts" && "$PY" -m unittest test_shipping) || status=$?
    fi
    if [[ $status -eq 0 && -z "${E2E_FILTER:-}" ]]; then
      fuzz_all || status=$?
    fi
    if [[ $status -eq 0 ]]; then
      # The fuzzing leaves the webhook poller a backlog of events; the end-to-end tests
      # time their deliveries, so let it catch up first.
      poller_caught_up "the fuzzing's events"
      if [[ -n "${E2E_FILTER:-}" ]]; then
        (cd "$ROOT" && cargo test --workspace --test api -- --test-threads "${TEST_THREADS:-8}" $E2E_FILTER) || status=$?
      else
        # The tests that time deliveries against hostile and dead receivers run last, on
        # a quiet stack: they prove that receivers do not slow one another, and DynamoDB
        # Local, which commits one transaction at a time, is saturated by the rest of
        # the suite (its stream then lags by tens of seconds, whatever the receivers do).
        (cd "$ROOT" && cargo test --workspace --test api -- --test-threads "${TEST_THREADS:-8}" \
          --skip "${QUIET_TESTS[0]}" --skip "${QUIET_TESTS[1]}") || status=$?
        if [[ $status -eq 0 ]]; then
          poller_caught_up "the suite's events"
          (cd "$ROOT" && cargo test --workspace --test api -- --test-threads "${TEST_THREADS:-8}" "${QUIET_TESTS[@]}") || status=$?
        fi
      fi
    fi
    # The console in headless Chromium against the same stack (tests/browser): every step
    # checked on the page and through the API, a screenshot of each page kept in
    # .run/console-screenshots/. E2E_FILTER=console runs it alone.
    if [[ $status -eq 0 && ( -z "${E2E_FILTER:-}" || "${E2E_FILTER}" == console ) ]]; then
      CONSOLE_SCREENSHOTS="$RUN_DIR/console-screenshots" node --test "$ROOT/tests/browser/console.test.mjs" || status=$?
    fi
    if [[ $status -eq 0 && -z "${E2E_FILTER:-}" ]]; then
      "$0" run-check || status=$?
    fi
    if [[ $status -eq 0 && -z "${E2E_FILTER:-}" ]]; then
      # The fault suite pauses and kills its store, so it runs alone, on a stack of its own.
      RUN_DIR="$RUN_DIR/faults" "$0" faults || status=$?
    fi
    no_access_denied "make test" || status=1
    if [[ $status -ne 0 ]]; then
      echo "--- last lines of the API log ---"; tail -n 60 "$RUN_DIR/api.log"
      echo "--- last lines of the webhook poller log ---"; tail -n 30 "$RUN_DIR/poller.log"
      emulator_errors
    fi
    exit $status
    ;;
  run-check)
    # `make run` as documented (API.md §7): PORT chooses the port and ADMIN_API_KEY the
    # platform admin's key. Starts it in a run directory of its own, asks it one
    # question with that key on that port, and stops it.
    port=$(free_port)
    key="ck_live_runcheck_$(random_secret | tr -dc 'A-Za-z0-9' | head -c 24)"
    dir="$RUN_DIR/run-check"
    rm -rf "$dir" && mkdir -p "$dir"
    (RUN_DIR="$dir" PORT=$port ADMIN_API_KEY=$key exec setsid "$0" run >"$dir/run.log" 2>&1 </dev/null) &
    run_pid=$!
    PIDS+=("$run_pid")
    ok=0
    for _ in $(seq 1 3000); do
      if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=1; break; fi
      kill -0 "$run_pid" 2>/dev/null || break
      sleep 0.1
    done
    answer() { # key -> status of GET /v1/partners
      "$PY" -c 'import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1] + "/v1/partners", headers={"x-api-key": sys.argv[2]})
try:
    print(urllib.request.urlopen(req, timeout=60).status)
except urllib.error.HTTPError as e:
    print(e.code)' "http://127.0.0.1:$port" "$1"
    }
    code=1
    if [[ $ok -eq 1 ]]; then
      with_key=$(answer "$key"); with_other=$(answer "ck_live_not_the_admin_key_0000000000")
      if [[ "$with_key" == 200 && "$with_other" == 401 ]] && grep -qF "$key" "$dir/run.log" && grep -qF "127.0.0.1:$port" "$dir/run.log"; then
        code=0
        echo "make run: serves on PORT=$port, ADMIN_API_KEY is the admin's key (200; another key 401)"
      else
        echo "make run: on PORT=$port the ADMIN_API_KEY got $with_key, another key $with_other" >&2
      fi
    else
      echo "make run: nothing listened on PORT=$port; its output:" >&2
    fi
    [[ $code -eq 0 ]] || tail -n 30 "$dir/run.log" >&2
    kill -TERM -- "-$run_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
    exit $code
    ;;
  faults)
    # Fault injection (tests/tests/faults): a stack over an on-disk DynamoDB Local that the
    # tests pause (SIGSTOP), kill and start again; one test at a time. Writes the run's
    # figures into README.md's Reliability section.
    (cd "$ROOT" && cargo build --workspace --bins --tests)  # nothing to do when `test` built it
    rm -rf "$RUN_DIR/dynamodb-data" "$RUN_DIR/figures.jsonl"
    export WEBHOOK_RETRY_SCHEDULE="${WEBHOOK_RETRY_SCHEDULE:-1s,1s,2s}"
    API_PORT=$(free_port)
    ADMIN="ck_live_test_admin_$(random_secret | tr -dc 'A-Za-z0-9' | head -c 24)"
    DDB_PORT=$(free_port)
    DURABLE_STORE=1 STORE_FAULTS=1 stack "$API_PORT" "$DDB_PORT" "$ADMIN" --ignore-changes
    export CLIENTELE_URL="http://127.0.0.1:$API_PORT" CLIENTELE_ADMIN_KEY="$ADMIN" \
      CLIENTELE_DYNAMODB_URL="http://127.0.0.1:$DDB_PORT" CLIENTELE_STORE_FAULTS_URL="http://127.0.0.1:$STORE_FAULTS_PORT" \
      CLIENTELE_JWT_SECRET="$(grep '^JWT_SECRET=' "$RUN_DIR/env" | cut -d= -f2-)" \
      CLIENTELE_POLLER_PID_FILE="$RUN_DIR/poller.pid" CLIENTELE_ENV_FILE="$RUN_DIR/env" \
      CLIENTELE_DYNAMODB_PID_FILE="$RUN_DIR/dynamodb.pid" CLIENTELE_DYNAMODB_RESTART="$RUN_DIR/dynamodb-restart.sh" \
      CLIENTELE_FAULT_FIGURES="$RUN_DIR/figures.jsonl"
    status=0
    (cd "$ROOT" && cargo test --workspace --test faults -- --test-threads 1 ${FAULTS_FILTER:-}) || status=$?
    if [[ $status -eq 0 && -z "${FAULTS_FILTER:-}" ]]; then
      "$PY" "$ROOT/scripts/reliability.py" "$RUN_DIR/figures.jsonl" "$ROOT/README.md" || status=$?
    fi
    no_access_denied "the fault suite" || status=1
    if [[ $status -ne 0 ]]; then
      echo "--- last lines of the fault stack's API log ---"; tail -n 60 "$RUN_DIR/api.log"
      emulator_errors
    fi
    exit $status
    ;;
  rehearse)
    # make rehearse: the arm64 bootstraps of `make package` under qemu-user against DynamoDB
    # Local and the local Secrets Manager (scripts/rehearse.py).
    [[ -f "$ROOT/target/lambda/package.json" ]] || { echo "rehearse: run make package first" >&2; exit 1; }
    in_process_stack
    rm -rf "$RUN_DIR/rehearse"
    "$PY" "$ROOT/scripts/rehearse.py" "$ROOT/target/lambda" "$RUN_DIR/env" "$BENCH_ADMIN_KEY" "$ROOT/target/lambda/package.json"
    # What make deploy would ship: the zips, each holding exactly a bootstrap that ran.
    "$PY" "$ROOT/scripts/shipping.py" check
    ;;
  bench)
    # Release builds of the measured functions and of the bench itself (the deploy profile).
    # BENCH_PROFILE=dev runs a debug bench (for working on the bench: its figures mean nothing).
    (cd "$ROOT" && cargo build --release -p get-client -p create-client -p list-clients -p deliver-webhooks)
    bench_binary "${BENCH_PROFILE:-release}"
    # The bench again with symbols and line tables (the release profile otherwise), for
    # callgrind's table of where a retrieve's instructions go (bench/src/callgrind.rs).
    if [[ "${BENCH_PROFILE:-release}" != dev ]]; then
      (cd "$ROOT" && cargo build --profile profiling -p clientele-bench)
      export BENCH_PROFILING_BIN="$ROOT/target/profiling/clientele-bench"
    fi
    in_process_stack
    # The report is written only when the whole run succeeded (a failed request fails it).
    "$BENCH_BIN"
    ;;
  load)
    # Concurrent callers through the real handlers for a bounded time (LOAD_SECONDS, default
    # 60, and the other LOAD_* knobs of bench/src/load.rs), partition heat counted; writes
    # docs/scale/latest.json and docs/SCALE.md only when no request failed. LOAD_PROFILE=dev
    # runs a debug build.
    bench_binary "${LOAD_PROFILE:-release}"
    in_process_stack
    "$BENCH_BIN" --load
    ;;
  with-store)
    # One command of your own beside a fresh DynamoDB Local and the bench's environment
    # (for profiling by hand), e.g.:
    #   scripts/stack.sh with-store valgrind --tool=callgrind target/profiling/clientele-bench --only retrieve 20 handler
    shift
    [[ $# -gt 0 ]] || { echo "usage: $0 with-store <command...>" >&2; exit 2; }
    in_process_stack
    "$@"
    ;;
  *)
    echo "usage: $0 run|test|faults|run-check|bench|load|rehearse|with-store <command...>" >&2; exit 2 ;;
esac
