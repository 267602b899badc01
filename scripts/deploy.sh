#!/usr/bin/env bash
# make deploy / make destroy: the stack on AWS, with the SAM CLI pinned in .tools/sam.
#
#   scripts/deploy.sh deploy    preflight (below); `make rehearse` (every function built
#                               for arm64 and run under qemu); the zips about to ship
#                               checked to hold exactly the rehearsed bootstraps
#                               (scripts/shipping.py); the secrets created when missing;
#                               `sam deploy` of those zips; then every function's
#                               CodeSha256 on AWS checked against them
#   scripts/deploy.sh destroy   delete the stack; the table is kept (DeletionPolicy Retain and
#                               deletion protection) unless DELETE_TABLE=yes
#   scripts/deploy.sh preflight the Region and credentials; a stack left ROLLBACK_COMPLETE
#                               by a failed first deploy removed (with the empty table it
#                               kept); the account's Lambda concurrency and the alarms'
#                               subscriber (warnings)
#   scripts/deploy.sh admin-key a new platform admin key (the old one stops working)
#
# STACK (default clientele) names the stack; SECRETS (default clientele) the secrets'
# prefix (<SECRETS>/auth, <SECRETS>/webhook); ALARM_TOPIC_ARN an SNS topic for the alarms
# (default: the stack makes its own), ALARM_EMAIL an address that topic mails;
# PARAMETERS more template parameters, as "Tracing=Active LogRetentionDays=90". The Region
# and credentials are the AWS CLI's: AWS_REGION / AWS_PROFILE / AWS_ACCESS_KEY_ID..., and
# samconfig.toml holds the rest. The admin key of a new deployment is written to
# .deploy/<account>-<Region>-<SECRETS>-admin-key (mode 0600), never to the output.
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

# Before anything slow: a Region, credentials, and credentials that work (one STS call);
# for a deploy, the stack's state, the account's concurrency and the alarms' subscriber.
preflight() {
  "$PY" - "$1" "$STACK" <<'PY'
import os
import sys

import boto3
import botocore.exceptions

what, stack = sys.argv[1], sys.argv[2]
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
if what != "deploy":
    sys.exit(0)

# A first deploy that failed leaves its stack ROLLBACK_COMPLETE, which CloudFormation can
# only delete, and the table it created (DeletionPolicy Retain holds on a rolled-back
# create too). Nothing could use that table, so when it is empty it goes with the stack;
# one that holds anything is kept and named.
cfn = session.client("cloudformation")
try:
    found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
except botocore.exceptions.ClientError as e:
    if "does not exist" not in str(e):
        sys.exit(f"make deploy: could not read stack {stack}: {e}")
    found = None
status = found and found["StackStatus"]
# REVIEW_IN_PROGRESS: a first change set that was never run; `sam deploy` creates over it.
if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
    sys.exit(f"make deploy: stack {stack} is {status}; wait for it to finish, then run make deploy again")
if status in ("ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"):
    sys.exit(f"make deploy: stack {stack} is {status}; see its events in the CloudFormation console "
             "(`aws cloudformation describe-stack-events --stack-name " + stack + "`) and fix or delete it first")
if status == "ROLLBACK_COMPLETE":
    print(f"deploy: stack {stack} is ROLLBACK_COMPLETE (its first deploy failed); removing it before deploying again")
    db = session.client("dynamodb")
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            if r["ResourceType"] != "AWS::DynamoDB::Table" or not r.get("PhysicalResourceId"):
                continue
            table = r["PhysicalResourceId"]
            try:
                held = db.scan(TableName=table, Limit=1, Select="COUNT")["Count"]
            except db.exceptions.ResourceNotFoundException:
                continue
            if held:
                print(f"deploy: the failed deploy's table {table} holds items; it is kept (delete it by hand if unwanted)")
                continue
            if db.describe_table(TableName=table)["Table"].get("DeletionProtectionEnabled"):
                db.update_table(TableName=table, DeletionProtectionEnabled=False)
                db.get_waiter("table_exists").wait(TableName=table)
            db.delete_table(TableName=table)
            print(f"deploy: deleted the failed deploy's empty table {table}")
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack)
    print(f"deploy: stack {stack} deleted")

# New accounts start with a low Lambda concurrency (as low as 10), shared by 61 functions,
# the stream consumer and the schedules: the API would be throttled long before its own limits.
try:
    limit = session.client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
    print(f"deploy: WARNING: could not read the account's Lambda concurrency ({e})", file=sys.stderr)
    limit = None
if limit is not None and limit < 100:
    print(f"deploy: WARNING: this account runs at most {limit} Lambda invocations at once; ask for more "
          "(Service Quotas, AWS Lambda, 'Concurrent executions', 1000 is the usual default) before real traffic",
          file=sys.stderr)
# `sam deploy` keeps a parameter's earlier value when it is not given again.
kept = {p["ParameterKey"]: p.get("ParameterValue", "") for p in (found or {}).get("Parameters", [])} if status != "ROLLBACK_COMPLETE" else {}
if not any([os.environ.get("ALARM_TOPIC_ARN"), os.environ.get("ALARM_EMAIL"), kept.get("AlarmTopicArn"), kept.get("AlarmEmail")]):
    print("deploy: WARNING: the alarms notify the stack's own SNS topic, which nobody is subscribed to: "
          "give ALARM_EMAIL=<address> (or ALARM_TOPIC_ARN), or subscribe to the AlarmTopic output", file=sys.stderr)
PY
}

# The table a stack holds: its output, or (a stack that never finished) its resource.
table_of() {
  "$PY" - "$1" <<'PY'
import sys

import boto3
import botocore.exceptions

cfn = boto3.client("cloudformation")
try:
    stack = cfn.describe_stacks(StackName=sys.argv[1])["Stacks"][0]
except botocore.exceptions.ClientError:
    sys.exit(0)
tables = [o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == "TableName"]
if not tables:
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=sys.argv[1]):
        tables += [r["PhysicalResourceId"] for r in page["StackResourceSummaries"]
                   if r["ResourceType"] == "AWS::DynamoDB::Table" and r.get("PhysicalResourceId")]
print(*tables[:1])
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
    # The arm64 bootstraps, built once (make package) and run under qemu (make rehearse):
    # what ships is their zips, checked to hold exactly what ran, and nothing else.
    make -C "$ROOT" --no-print-directory rehearse
    "$PY" "$ROOT/scripts/shipping.py" check
    "$PY" "$ROOT/infra/deploy_secrets.py" --name "$SECRETS"
    params=("SecretsName=$SECRETS")
    [[ -n "${ALARM_TOPIC_ARN:-}" ]] && params+=("AlarmTopicArn=$ALARM_TOPIC_ARN")
    [[ -n "${ALARM_EMAIL:-}" ]] && params+=("AlarmEmail=$ALARM_EMAIL")
    # shellcheck disable=SC2206 # PARAMETERS is a space-separated list of Key=Value
    [[ -n "${PARAMETERS:-}" ]] && params+=(${PARAMETERS})
    (cd "$ROOT" && sam deploy --config-file "$ROOT/samconfig.toml" --stack-name "$STACK" --parameter-overrides "${params[@]}")
    # What runs on AWS now: each function's CodeSha256 against the zip that was checked.
    "$PY" "$ROOT/scripts/shipping.py" verify "$STACK"
    echo "--- the stack's outputs ---"
    outputs "$STACK"
    ;;
  admin-key)
    preflight admin-key
    "$PY" "$ROOT/infra/deploy_secrets.py" --name "$SECRETS" --new-admin-key
    ;;
  destroy)
    preflight destroy
    table=$(table_of "$STACK")
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
The secrets $SECRETS/auth and $SECRETS/webhook are kept too. To delete them for good (a
later make deploy then makes new ones, with a new admin key):
  aws secretsmanager delete-secret --secret-id $SECRETS/auth --force-delete-without-recovery
  aws secretsmanager delete-secret --secret-id $SECRETS/webhook --force-delete-without-recovery
MSG
    fi
    ;;
  *)
    sed -n '2,24p' "$0"
    exit 2
    ;;
esac
