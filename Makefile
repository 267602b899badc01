# Clientele's two commands: `make run` and `make test`. Everything they need is
# installed on first use into .tools/ (git-ignored); nothing is installed globally
# except, when the machine lacks them, Java 17, npm, (for the console's browser tests)
# Chromium and (for make bench) valgrind from the OS packages.

SHELL := /bin/bash
TOOLS := .tools
VENV := $(TOOLS)/venv
PY := $(VENV)/bin/python
CARGO_LAMBDA_VERSION := 1.9.2
# The zig that links the arm64 bootstraps (cargo-lambda's pip package asks only for >= 0.10).
ZIGLANG_VERSION := 0.17.1
CFN_LINT_VERSION := 1.58.0
SAM_TRANSLATOR_VERSION := 1.115.0
SCHEMATHESIS_VERSION := 4.32.5
OPENAPI_PYTHON_CLIENT_VERSION := 0.29.1
OPENAPI_TYPESCRIPT_VERSION := 7.13.0
TYPESCRIPT_VERSION := 5.9.3
PLAYWRIGHT_CORE_VERSION := 1.65.1
DDB_SIMULATOR := amplify-dynamodb-simulator@2.9.30

.PHONY: run test package rehearse bench load scale-report tools routes check-routes lint-template deploy-check clean help expire-trials deploy destroy admin-key

help:
	@echo "make run    - serve the API at http://127.0.0.1:$${PORT:-9000} over DynamoDB Local"
	@echo "make test   - set up a private stack, run every test, clean up"
	@echo "make package  - every function built for Lambda arm64 -> target/lambda/ (sizes, build time)"
	@echo "make rehearse - the arm64 bootstraps run under qemu against the local stack, with a smoke"
	@echo "make deploy   - package and deploy to AWS (README: Deploy to AWS); make destroy"
	@echo "make load   - partition heat under a concurrent mix, capacity and cost -> docs/SCALE.md"
	@echo "make routes - regenerate function crates, router and template routes from infra/routes.tsv"

run: tools
	@scripts/stack.sh run

# Warm latency against raw SDK twins, DynamoDB calls and sequential depth, CPU and
# instructions per request, cold start, memory, list scaling and Lambda cost -> BENCHMARKS.md,
# every verdict computed against the goals in bench/src/goals.rs. BENCH_LIST_BIG sets the
# large tree's size (default 100000); BENCH_SAMPLES and the other BENCH_* knobs (bench/NOTES.md)
# make a quicker run.
bench: tools $(TOOLS)/.valgrind
	@scripts/stack.sh bench

# Many concurrent callers through the real handlers for LOAD_SECONDS (default 60), over
# many partners with a few very large ones, then creates into one partner: DynamoDB units
# per partition key (counted in the store's interceptor) scaled to 5 000 requests and
# 1 000 creates a second against one partition's limits, units per operation, Lambda
# concurrency and a monthly cost -> docs/SCALE.md (and docs/scale/latest.json), beside
# docs/scale/before.json. Other LOAD_* knobs: bench/src/load.rs.
load: $(TOOLS)/.python $(TOOLS)/dynamodb/DynamoDBLocal.jar $(TOOLS)/.java
	@scripts/stack.sh load

# docs/SCALE.md again from the saved figures (e.g. after copying a run to docs/scale/before.json).
scale-report:
	cargo run -q --release -p clientele-bench -- --scale-report

test: tools $(TOOLS)/.chromium check-routes lint-template deploy-check
	@scripts/stack.sh test

# cfn-lint over the SAM template; any finding fails the build.
lint-template: tools
	$(VENV)/bin/cfn-lint infra/template.yaml

# What the first `sam deploy` would run into, without an account: the template translated
# as `sam validate` does (aws-sam-translator), its processed form checked against AWS
# limits (resource policies, dynamic references, resources, size, inline policies, routes,
# fixed names) and the README's deployment claims (alarms, retention, least privilege),
# then cfn-lint on it. Each check prints its margin; any failure fails (infra/deploy_check.py).
deploy-check: $(TOOLS)/.python
	$(PY) infra/deploy_check.py

# Every function built for Lambda's arm64 (cargo-lambda with zig, one invocation for the
# workspace, the `deploy` profile) into target/lambda/<function>/bootstrap, each zipped
# alone into target/lambda/<function>.zip, the file the template's CodeUri names; prints
# the build time and sizes (target/lambda/package.json).
package: $(TOOLS)/.python $(TOOLS)/.binutils
	@scripts/package.sh

# readelf (binutils) checks the bootstraps' C library needs; from the OS packages when missing.
$(TOOLS)/.binutils:
	@mkdir -p $(TOOLS)
	@command -v readelf >/dev/null || { echo "installing binutils"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils; }
	@touch $@

# The bytes `make package` built, run: every arm64 bootstrap under qemu-user against
# DynamoDB Local, a local Runtime API and the local Secrets Manager, then an end-to-end
# smoke through them (scripts/rehearse.py). `make deploy` checks it ships these bytes.
rehearse: package $(TOOLS)/.qemu $(TOOLS)/dynamodb/DynamoDBLocal.jar $(TOOLS)/.java
	@scripts/stack.sh rehearse

routes:
	python3 infra/routes.py

check-routes:
	python3 infra/routes.py --check

tools: $(TOOLS)/.python $(TOOLS)/dynamodb/DynamoDBLocal.jar $(TOOLS)/.java $(TOOLS)/node/.installed

# Java runs DynamoDB Local; install it from the OS packages only when missing.
$(TOOLS)/.java:
	@mkdir -p $(TOOLS)
	@command -v java >/dev/null || { echo "installing Java 17"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }
	@touch $@

# qemu-user runs the arm64 bootstraps in make rehearse, with Debian's arm64 C library as
# their root; both from the OS packages when missing.
$(TOOLS)/.qemu:
	@mkdir -p $(TOOLS)
	@{ command -v qemu-aarch64-static >/dev/null && test -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1; } || { echo "installing qemu-user-static and libc6-arm64-cross"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross; }
	@touch $@

# valgrind counts the bench's instructions per request (callgrind); from the OS packages when missing.
$(TOOLS)/.valgrind:
	@mkdir -p $(TOOLS)
	@command -v valgrind >/dev/null || { echo "installing valgrind"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
	@touch $@

# Chromium drives the console's browser tests (tests/browser); Debian's package, only when missing.
$(TOOLS)/.chromium:
	@mkdir -p $(TOOLS)
	@test -x /usr/bin/chromium || { echo "installing Chromium"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@touch $@

# cargo-lambda (the local API Gateway and Lambda runtime), boto3 and PyYAML (table set-up),
# cfn-lint (the template's linter), aws-sam-translator (make deploy-check: the library behind
# `sam validate`), schemathesis (fuzzes the API against its OpenAPI document),
# openapi-python-client (the generated-client test). Re-run when this Makefile changes the list.
$(TOOLS)/.python: Makefile
	@mkdir -p $(TOOLS)
	@python3 -m venv $(VENV) 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && python3 -m venv $(VENV); }
	$(VENV)/bin/pip install -q --disable-pip-version-check "cargo-lambda==$(CARGO_LAMBDA_VERSION)" "ziglang==$(ZIGLANG_VERSION)" "boto3>=1.34,<2" "PyYAML>=6,<7" "cfn-lint==$(CFN_LINT_VERSION)" "aws-sam-translator==$(SAM_TRANSLATOR_VERSION)" "schemathesis==$(SCHEMATHESIS_VERSION)" "openapi-python-client==$(OPENAPI_PYTHON_CLIENT_VERSION)"
	@touch $@

# openapi-typescript and tsc, for the generated TypeScript types' check; playwright-core,
# which drives Chromium in the console's browser tests (it downloads no browser).
$(TOOLS)/node/.installed: Makefile
	@mkdir -p $(TOOLS)/node
	@command -v npm >/dev/null || { echo "installing npm"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/node "openapi-typescript@$(OPENAPI_TYPESCRIPT_VERSION)" "typescript@$(TYPESCRIPT_VERSION)" "playwright-core@$(PLAYWRIGHT_CORE_VERSION)"
	@touch $@

# DynamoDB Local, AWS's own emulator, as shipped inside an npm package.
$(TOOLS)/dynamodb/DynamoDBLocal.jar:
	@mkdir -p $(TOOLS)/npm
	@command -v npm >/dev/null || { echo "installing npm"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	cd $(TOOLS)/npm && npm pack --silent $(DDB_SIMULATOR) >/dev/null && tar xzf amplify-dynamodb-simulator-*.tgz
	rm -rf $(TOOLS)/dynamodb && mv $(TOOLS)/npm/package/emulator $(TOOLS)/dynamodb && rm -rf $(TOOLS)/npm
	@test -f $@

clean:
	rm -rf .run target

# Runs the scheduled trial-expiry function once against a running `make run`.
expire-trials:
	$(VENV)/bin/cargo-lambda lambda invoke expire-trials --data-ascii '{}' --invoke-port $${PORT:-9000}

# The stack on AWS (scripts/deploy.sh; README "Deploy to AWS"). Needs only the Rust toolchain,
# Python 3 and an AWS account: the SAM CLI is pinned in .tools/sam, and what make rehearse
# needs is installed as for make test. The template is linted and checked (deploy-check),
# the Region, credentials and stack state checked; then make rehearse builds every function
# for arm64 and runs it under qemu, and exactly those bytes ship: their zips are checked
# against the rehearsal before the upload, and each function's CodeSha256 on AWS after it.
# The secrets are created when missing (a new admin key goes to .deploy/<account>-<Region>-<SECRETS>-admin-key,
# mode 0600). STACK and SECRETS name them (default: clientele); ALARM_EMAIL,
# ALARM_TOPIC_ARN, PARAMETERS: see scripts/deploy.sh.
deploy: $(TOOLS)/.sam lint-template deploy-check
	@scripts/deploy.sh deploy

# A new platform admin key for a deployed stack (the old one stops working within 300 s).
admin-key: $(TOOLS)/.sam
	@scripts/deploy.sh admin-key

# Deletes the stack. The table, with every client, is kept (DeletionPolicy Retain, deletion
# protection) unless DELETE_TABLE=yes.
destroy: $(TOOLS)/.sam
	@scripts/deploy.sh destroy

SAM_CLI_VERSION := 1.170.0

$(TOOLS)/.sam: Makefile
	@mkdir -p $(TOOLS)
	@python3 -m venv $(TOOLS)/sam 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && python3 -m venv $(TOOLS)/sam; }
	$(TOOLS)/sam/bin/pip install -q --disable-pip-version-check "aws-sam-cli==$(SAM_CLI_VERSION)"
	@touch $@
