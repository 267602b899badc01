#!/usr/bin/env bash
# make deploy / make destroy: the stack on AWS, with the SAM CLI pinned in .tools/sam.
#
#   scripts/deploy.sh deploy    check the Region and credentials, build every function for
#                               arm64 (scripts/package.sh, as make package), create the
#                               secrets when missing, deploy the stack with those bootstraps
#   scripts/deploy.sh destroy   delete the stack; the table is kept (DeletionPolicy Retain and
#                               deletion protection) unless DELETE_TABLE=yes
#   scripts/deploy.sh preflight only the Region and credentials check
#
# STACK (default clientele) names the stack; SECRETS (default clientele) the secrets'
# prefix (<SECRETS>/auth, <SECRETS>/webhook); ALARM_TOPIC_ARN an SNS topic for the alarms
# (default: the stack makes its own); PARAMETERS more template parameters, as
# "Tracing=Active LogRetentionDays=90". The Region and credentials are the AWS CLI's:
# AWS_REGION / AWS_PROFILE / AWS_ACCESS_KEY_ID..., and samconfig.toml holds the rest.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SAM_VENV="$ROOT/.tools/sam"
PY="$SAM_VENV/bin/python"
STACK=${STACK:-clientele}
SECRETS=${SECRETS:-clientele}
export SAM_CLI_TELEMETRY=0 PATH="$SAM_VENV/bin:$PATH"
# boto3 (and so the SAM CLI) reads AWS_DEFAULT_REGION, the Rust SDK and many tools AWS_REGION:
# take either.
if [[ -n "${AWS_REGION:-}" && -z "${AWS_DEFAULT_REGION:-}" ]]; then export AWS_DEFAULT_REGION=$AWS_REGION; fi

# Before anything slow: a Region, credentials, and credentials that work (one STS call).
preflight() {
  "$PY" - "$1" <<'PY'
import sys

import boto3
import botocore.exceptions

what = sys.argv[1]
session = boto3.session.Session()
if not session.region_name:
    sys.exit(f"make {what}: no AWS Region is set. Give one, e.g. `AWS_REGION=eu-west-1 make {what}`, "
             "or use a profile that has one (`AWS_PROFILE=<profile>`, see `aws configure`).")
if session.get_credentials() is None:
    sys.exit(f"make {what}: no AWS credentials found. Sign in first (`aws configure`, or `aws sso login` and "
             "`AWS_PROFILE=<profile>`), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")
try:
    me = session.client("sts").get_caller_identity()
except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
    sys.exit(f"make {what}: the AWS credentials were refused: {e}")
print(f"{what}: account {me['Account']} as {me['Arn']}, Region {session.region_name}")
PY
}

outputs() { # stack -> "key value" lines (none when the stack does not exist)
  "$PY" - "$1" <<'PY'
import sys

import boto3
import botocore.exceptions

try:
    stack = boto3.client("cloudformation").describe_stacks(StackName=sys.argv[1])["Stacks"][0]
except botocore.exceptions.ClientError:
    sys.exit(0)
for o in stack.get("Outputs", []):
    print(o["OutputKey"], o["OutputValue"])
PY
}

case "${1:-}" in
  preflight)
    preflight check
    ;;
  deploy)
    preflight deploy
    # The arm64 bootstraps (make package: one build of the workspace), uploaded as they are.
    CARGO_LAMBDA="$SAM_VENV/bin/cargo-lambda" "$ROOT/scripts/package.sh"
    # Were these the bytes `make rehearse` ran? Say so either way (a deploy does not need
    # the local stack's Java, so it does not insist).
    python3 - "$ROOT/target/lambda" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
built = {f: b["sha256"] for f, b in json.loads((out / "package.json").read_text())["bootstraps"].items()}
try:
    tested = json.loads((out / "rehearsed.json").read_text())
except FileNotFoundError:
    tested = None
if tested and tested["sha256"] == built:
    print(f"deploy: these {len(built)} bootstraps are the bytes make rehearse ran ({tested['at']})")
else:
    print("deploy: WARNING: these bootstraps were not run by make rehearse on this machine "
          "(run `make rehearse` first to ship only bytes that passed the arm64 smoke)", file=sys.stderr)
PY
    "$PY" "$ROOT/infra/deploy_secrets.py" --name "$SECRETS"
    params=("SecretsName=$SECRETS")
    [[ -n "${ALARM_TOPIC_ARN:-}" ]] && params+=("AlarmTopicArn=$ALARM_TOPIC_ARN")
    # shellcheck disable=SC2206 # PARAMETERS is a space-separated list of Key=Value
    [[ -n "${PARAMETERS:-}" ]] && params+=(${PARAMETERS})
    (cd "$ROOT" && sam deploy --config-file "$ROOT/samconfig.toml" --stack-name "$STACK" --parameter-overrides "${params[@]}")
    echo "--- the stack's outputs ---"
    outputs "$STACK"
    ;;
  destroy)
    preflight destroy
    table=$(outputs "$STACK" | awk '$1 == "TableName" {print $2}')
    (cd "$ROOT" && sam delete --config-file "$ROOT/samconfig.toml" --stack-name "$STACK" --no-prompts)
    if [[ -z "$table" ]]; then
      echo "destroy: stack $STACK had no table output (was it deployed?)"
    elif [[ "${DELETE_TABLE:-}" == yes ]]; then
      "$PY" - "$table" <<'PY'
import sys

import boto3

db = boto3.client("dynamodb")
db.update_table(TableName=sys.argv[1], DeletionProtectionEnabled=False)
db.get_waiter("table_exists").wait(TableName=sys.argv[1])
db.delete_table(TableName=sys.argv[1])
print(f"destroy: table {sys.argv[1]} deleted (its point-in-time backups go with it)")
PY
    else
      cat <<MSG
destroy: the table $table is kept, with every client in it (DeletionPolicy Retain and
deletion protection). To delete it for good: DELETE_TABLE=yes STACK=$STACK make destroy, or
  aws dynamodb update-table --table-name $table --no-deletion-protection-enabled
  aws dynamodb delete-table --table-name $table
The secrets $SECRETS/auth and $SECRETS/webhook are kept too (aws secretsmanager delete-secret).
MSG
    fi
    ;;
  *)
    sed -n '2,16p' "$0"
    exit 2
    ;;
esac
