#!/usr/bin/env python3
"""Generates, from infra/routes.tsv, everything that lists the routes, and from
infra/access.tsv each function's DynamoDB policy (IAM in the template, and
shared/src/access_policy.rs for the local check).

    python3 infra/routes.py          # write the function crates, the router, the template routes
    python3 infra/routes.py --check  # exit 1 naming whatever is out of step

Each route's function crate is one line of wiring; whatever no route takes (a method
a path does not serve: 405, an unknown path: 404) goes to the one fallback,
`route-not-found` (on AWS the HTTP API's `$default` route).
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
FALLBACKS = [
    ("route-not-found", "route_not_found", "Answers what no route takes (405 for a method a path does not serve, 404 for an unknown path)"),
]


def routes(kind="http"):
    """The rows of the table: HTTP routes, or (kind="job") background functions."""
    rows = []
    with open(os.path.join(ROOT, "infra", "routes.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            function, method, path, handler, summary = line.rstrip("\n").split("\t")
            is_job = method in ("SCHEDULE", "STREAM")
            if is_job == (kind == "job"):
                rows.append(dict(function=function, method=method, path=path, handler=handler, summary=summary))
    return rows


# The seed dialects (../shared/DIALECTS.md), told by a route's path: its tag in the
# OpenAPI document and the suffix of its operationId.
DIALECTS = [
    ("/v2/", "v2", "white-label API (/v2, seed 000)"),
    ("/hosting/api/", "hosting", "hosting API (/hosting/api, seed 003)"),
    ("/api/v1/portal/", "portal", "reseller portal API (/api/v1/portal, seed 002)"),
    ("/api/v1/clients", "partner-api", "partner API (/api/v1/clients, seed 001)"),
]


def dialect(path):
    """(id, tag) of the seed dialect a path belongs to, or None for /v1."""
    for prefix, ident, tag in DIALECTS:
        if path.startswith(prefix):
            return ident, tag
    return None


# The browser console (shared/console/): a page and its assets for people, not JSON
# API routes, so they are routed and deployed like any other but left out of the
# OpenAPI document (and so out of its fuzzing and the generated clients).
CONSOLE = "/console"


def is_console(path):
    return path == CONSOLE or path.startswith(CONSOLE + "/")


def first_rows(rows):
    """One row per function: its first (the /v1 route), which names the crate."""
    seen, out = set(), []
    for r in rows:
        if r["function"] not in seen:
            seen.add(r["function"])
            out.append(r)
    return out


def stateless(function):
    """An HTTP function that may not touch the table (its infra/access.tsv row is all
    `-`) is served without the idempotency layer, which would look a credential up
    there: derived from its policy, so no function that keeps state loses the layer."""
    return not any(access().get(function, [["?"]]))


def crate_files(function, handler, summary, job=False):
    cargo = f"""[package]
name = "{function}"
version = "0.1.0"
edition.workspace = true
publish.workspace = true

[dependencies]
clientele.workspace = true
tokio.workspace = true
"""
    if job == "STREAM":
        runner = "clientele::webhooks::run_delivery()"
    elif job:
        runner = f"clientele::jobs::run(clientele::jobs::{handler})"
    elif stateless(function):
        runner = f"clientele::run_stateless(clientele::api::{handler})"
    else:
        runner = f"clientele::run(clientele::api::{handler})"
    # One request at a time per Lambda instance: a runtime on the function's own thread,
    # with no worker threads to wake and hand work between (BENCHMARKS.md, CPU).
    main = f"""//! {summary}. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {{
    {runner}.await
}}
"""
    return {f"functions/{function}/Cargo.toml": cargo, f"functions/{function}/src/main.rs": main}


def router(rows):
    by_path = {}
    for r in rows:
        by_path.setdefault(r["path"], {})[r["method"]] = r["function"]
    out = ["[workspace.metadata.lambda.watch.router]"]
    for path in sorted(by_path):
        served = by_path[path]
        # OPTIONS and HEAD too: on AWS they reach `$default` (405), never the emulator's
        # own error for a method no entry names.
        entries = [f'{{ method = "{m}", function = "{served.get(m, "route-not-found")}" }}' for m in [*METHODS, "OPTIONS", "HEAD"]]
        out.append(f'"{path}" = [\n    ' + ",\n    ".join(entries) + ",\n]")
    out.append('"/{*rest}" = "route-not-found"')
    # Each function's SECRETS, as the template gives it on AWS: `cargo lambda watch`
    # starts each function with its own (the functions then read those secrets from the
    # local stand-in for Secrets Manager, scripts/secrets_server.py).
    for function, secrets in sorted(secret_grants().items()):
        out.append(f'\n[workspace.metadata.lambda.bin.{function}.env]\nSECRETS = "{secrets_value(secrets)}"')
    return "\n".join(out) + "\n"


BEGIN = "# BEGIN ROUTES (generated by infra/routes.py from infra/routes.tsv)\n"
END = "# END ROUTES\n"


def with_block(text, block):
    start, end = text.index(BEGIN), text.index(END)
    return text[: start + len(BEGIN)] + block + text[end:]


READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]
WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


def access():
    """infra/access.tsv: per function, the partition keys it reads and writes and the
    indexes it queries. Rows named `@group` are parts other rows include by name."""
    groups, table = {}, {}
    with open(os.path.join(ROOT, "infra", "access.tsv")) as f:
        for n, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4:
                sys.exit(f"infra/access.tsv:{n}: expected 4 tab-separated fields")
            name, columns = fields[0], [c.split() for c in fields[1:]]
            row = []
            for i, tokens in enumerate(columns):
                out = set()
                for t in tokens:
                    if t.startswith("@"):
                        if t not in groups:
                            sys.exit(f"infra/access.tsv:{n}: {t} is not defined above")
                        out |= set(groups[t][i])
                    elif t != "-":
                        if "*" in t[:-1] or "?" in t:
                            sys.exit(f"infra/access.tsv:{n}: {t}: a pattern is a key or a prefix and one final *")
                        out.add(t)
                row.append(sorted(out))
            (groups if name.startswith("@") else table)[name] = row
    # A write of list entries reads its scopes' widths first, and widens them when
    # DynamoDB throttles one (shared/src/store/lists.rs).
    for name, (reads, writes, _) in table.items():
        if {"CLIENTS#*", "EVENTS#*"} & set(writes) and not ("WIDTH#*" in reads and "WIDTH#*" in writes):
            sys.exit(f"infra/access.tsv: {name} writes list entries, so it must read and write WIDTH#*")
    return table


def policy(function, keys, extra=()):
    """Least privilege: the item actions on the partition keys `infra/access.tsv`
    lists for the function (`dynamodb:LeadingKeys`), Query on the indexes it lists,
    never Scan, never table administration; the fallbacks touch nothing at all.
    `extra`: further statements (the stream consumer's failure queue)."""
    reads, writes, indexes = keys[function]
    statements = list(extra)
    for actions, patterns in ((READ, reads), (WRITE, writes)):
        if patterns:
            statements.append(
                "            - Effect: Allow\n"
                f"              Action: [{', '.join(actions)}]\n"
                "              Resource: !GetAtt Table.Arn\n"
                "              Condition:\n                ForAllValues:StringLike:\n"
                f"                  dynamodb:LeadingKeys: [{', '.join(repr(p).replace(chr(39), chr(34)) for p in patterns)}]\n"
            )
    if indexes:
        arns = "".join(f'                - !Sub "${{Table.Arn}}/index/{i}"\n' for i in indexes)
        statements.append("            - Effect: Allow\n              Action: dynamodb:Query\n              Resource:\n" + arns)
    if not statements:
        return "      Policies: []\n"
    return "      Policies:\n        - Statement:\n" + "".join(statements)


def access_rs(keys):
    """shared/src/access_policy.rs: the same policies, for the local check."""
    quoted = lambda xs: "&[" + ", ".join(f'"{x}"' for x in xs) + "]"
    lines = [
        "//! Generated from infra/access.tsv by infra/routes.py: the keys and indexes each",
        "//! function may use, as its IAM policy in infra/template.yaml allows them.",
        "",
        "use crate::store::access::Policy;",
        "",
        "pub const POLICIES: &[Policy] = &[",
    ]
    for function in sorted(keys):
        reads, writes, indexes = keys[function]
        lines.append(f'    Policy {{ function: "{function}", reads: {quoted(reads)}, writes: {quoted(writes)}, indexes: {quoted(indexes)} }},')
    lines.append("];")
    return "\n".join(lines) + "\n"


def logical_id(function):
    """The template's logical id of a function's resource: `get-client` -> `GetClientFunction`."""
    return "".join(p.capitalize() for p in function.split("-")) + "Function"


# The deployment's secrets: JSON documents in Secrets Manager named `<SecretsName>/<name>`
# (infra/deploy_secrets.py creates them), each with these keys. A function reads, at
# cold start and then every few minutes, only the secrets it is granted below; its IAM
# role may read those and no other (`make deploy-check` asserts both).
SECRETS = {
    "auth": ["cursorSecret", "jwtSecret", "adminApiKeySha256"],
    "webhook": ["webhookKey"],
}
# Functions that need other secrets than their kind's default: an HTTP function
# authenticates its callers (`auth`), a background job reads none.
SECRET_GRANTS = {
    "route-not-found": [],  # answers 404/405 and reads nothing
    "get-openapi": [],  # the public OpenAPI document
    "console": [],  # the public console page and assets
    "create-webhook": ["auth", "webhook"],  # shows the endpoint's signing secret
    "rotate-webhook-secret": ["auth", "webhook"],  # shows the new signing secret
    "deliver-webhooks": ["webhook"],  # signs deliveries
    "retry-webhooks": ["webhook"],  # signs deliveries
}


def secret_grants():
    """Each function's secrets (see SECRETS above)."""
    grants = {}
    for r in first_rows(routes()):
        grants[r["function"]] = SECRET_GRANTS.get(r["function"], ["auth"])
    for f, _, _ in FALLBACKS:
        grants[f] = SECRET_GRANTS.get(f, [])
    for j in routes("job"):
        grants[j["function"]] = SECRET_GRANTS.get(j["function"], [])
    return grants


def secrets_value(secrets):
    """The function's SECRETS variable: the names, comma-separated, or `none`."""
    return ",".join(secrets) or "none"


# Each function's memory. Lambda gives CPU in proportion (1769 MB is one vCPU) and bills
# GB-seconds, so a request's billed time is its waiting plus its CPU x 1769/M. `make bench`
# measures get-client, create-client and list-clients as processes (their wall and CPU per
# warm invocation) and writes the cheapest size meeting each one's latency goal under that
# model to bench/memory.json (BENCHMARKS.md, "MemorySize"): those three take their size
# from it, and the other API functions (the same kind of work: a credential, a partner
# chain, a few reads or a transaction) the largest of the three. What the bench does not
# measure keeps a size by reason: argon2id (19 MiB, 2 passes) on every call of the
# sign-in and teammate functions, static answers, webhook deliveries in flight.
MEASURED_MEMORY = os.path.join(ROOT, "bench", "memory.json")


def measured_memory():
    """bench/memory.json's sizes ({} when it is not there)."""
    if not os.path.exists(MEASURED_MEMORY):
        return {}
    with open(MEASURED_MEMORY) as f:
        return {k: int(v) for k, v in json.load(f).items()}


MEMORY_MEASURED = measured_memory()
MEMORY_DEFAULT = max(MEMORY_MEASURED.values(), default=512)  # API functions
MEMORY = {
    **MEMORY_MEASURED,
    "issue-token": 1024,  # argon2id on every call
    "create-teammate": 1024,  # argon2id hash
    "update-teammate": 1024,  # argon2id hash on a password change, verification for Basic
    "route-not-found": 128,  # no store call, no crypto
    "get-openapi": 128,  # a document compiled into the binary
    "console": 128,  # static files compiled into the binary
    "expire-trials": 256,  # store-bound, every 5 minutes
    "retry-webhooks": 512,  # up to 32 deliveries (TLS handshakes) in flight
    "deliver-webhooks": 512,  # up to 32 deliveries (TLS handshakes) in flight
}


def secrets_policy(function):
    """GetSecretValue on exactly the function's secrets (Secrets Manager adds six random
    characters to a secret's name in its ARN)."""
    grants = secret_grants()[function]
    if not grants:
        return ""
    arns = "".join(
        f'                - !Sub "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{SecretsName}}/{g}-??????"\n'
        for g in grants
    )
    return "            - Effect: Allow\n              Action: secretsmanager:GetSecretValue\n              Resource:\n" + arns


def function_block(function, summary, keys, extra_policy=(), timeout=None):
    """One function, its log group (with the stack's retention) and its settings."""
    logical = logical_id(function)
    logs = logical[: -len("Function")] + "Logs"
    out = [f"  {logical}:\n", "    Type: AWS::Serverless::Function\n"]
    out.append("    Properties:\n")
    out.append(f"      Description: {json.dumps(summary)}\n")
    # The zip of the arm64 bootstrap `make package` built and `make rehearse` ran: `sam
    # deploy` uploads a file as it is (no `sam build`, no second compile, no zipping of its
    # own), and `make deploy` checks the function's CodeSha256 against it.
    out.append(f"      CodeUri: ../target/lambda/{function}.zip\n      Handler: bootstrap\n")
    out.append(f"      MemorySize: {MEMORY.get(function, MEMORY_DEFAULT)}\n")
    if timeout:
        out.append(f"      Timeout: {timeout}\n")
    out.append(f"      Environment:\n        Variables:\n          SECRETS: {secrets_value(secret_grants()[function])}\n")
    out.append(f"      LoggingConfig:\n        LogFormat: JSON\n        LogGroup: !Ref {logs}\n")
    out.append(policy(function, keys, list(extra_policy) + ([secrets_policy(function)] if secret_grants()[function] else [])))
    block = "".join(out)
    group = f"  {logs}:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      RetentionInDays: !Ref LogRetentionDays\n"
    return logical, block, group


def alarms(functions, stream_function):
    """The alarms (to the alarm topic): function errors and throttles, ten functions to an
    alarm (a metric math alarm reads at most ten metrics), the stream consumer's iterator
    age, the API's 5xx rate and the failed-deliveries queue."""
    out = []
    action = "      AlarmActions: [!If [OwnAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]]\n" \
             "      OKActions: [!If [OwnAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]]\n"
    groups = [functions[i: i + 10] for i in range(0, len(functions), 10)]
    for metric, what in (("Errors", "failed invocations (a crash, a timeout, a job's error)"), ("Throttles", "throttled invocations (concurrency exhausted)")):
        for n, group in enumerate(groups, 1):
            out.append(f"  Function{metric}Alarm{n}:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n")
            names = ", ".join(f for f, _ in group)
            out.append(f"      AlarmDescription: Lambda {what} in {names}. See each function's {metric} metric.\n")
            out.append(action)
            out.append("      ComparisonOperator: GreaterThanOrEqualToThreshold\n      Threshold: 1\n      EvaluationPeriods: 1\n")
            out.append("      TreatMissingData: notBreaching\n      Metrics:\n")
            ids = []
            for i, (_, logical) in enumerate(group):
                ids.append(f"m{i}")
                out.append(f"        - Id: m{i}\n          ReturnData: false\n          MetricStat:\n            Stat: Sum\n            Period: 300\n")
                out.append(f"            Metric:\n              Namespace: AWS/Lambda\n              MetricName: {metric}\n")
                out.append(f"              Dimensions: [{{Name: FunctionName, Value: !Ref {logical}}}]\n")
            out.append(f"        - Id: total\n          Label: {metric}\n          ReturnData: true\n          Expression: SUM([{', '.join(ids)}])\n")
    if stream_function:
        # Deliveries are late once the stream's oldest unread record is 5 minutes old.
        out.append("  StreamIteratorAgeAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n")
        out.append("      AlarmDescription: Webhook deliveries are more than 5 minutes behind the table's stream (deliver-webhooks' IteratorAge).\n")
        out.append(action)
        out.append("      Namespace: AWS/Lambda\n      MetricName: IteratorAge\n")
        out.append(f"      Dimensions: [{{Name: FunctionName, Value: !Ref {stream_function}}}]\n")
        out.append("      Statistic: Maximum\n      Period: 300\n      EvaluationPeriods: 1\n      Threshold: 300000\n")
        out.append("      ComparisonOperator: GreaterThanOrEqualToThreshold\n      TreatMissingData: notBreaching\n")
    return "".join(out)


def template_block(rows):
    """SAM resources: one function per route (and its log group), the fallback on the
    HTTP API's `$default` route, the background functions, and their alarms."""
    out = []
    groups = []
    events = {}
    for r in rows:
        events.setdefault(r["function"], []).append((r["method"], r["path"]))
    summaries = {r["function"]: r["summary"] for r in first_rows(rows)}
    summaries.update({f: s for f, _, s in FALLBACKS})
    keys = access()
    functions = []
    for function in list(events) + [f for f, _, _ in FALLBACKS]:
        logical, block, group = function_block(function, summaries[function], keys)
        functions.append((function, logical))
        out.append(block)
        groups.append(group)
        out.append("      Events:\n")
        # One catch-all for whatever no route takes: a single route and a single
        # permission, however many paths there are.
        for i, (method, path) in enumerate(events.get(function) or [("ANY", "$default")]):
            out.append(f"        Route{i}:\n          Type: HttpApi\n          Properties:\n")
            out.append(f"            ApiId: !Ref HttpApi\n            Method: {method}\n            Path: {path}\n")
    stream_function = None
    for j in routes("job"):
        stream = j["method"] == "STREAM"
        logical, block, group = function_block(j["function"], j["summary"], keys, [STREAM_FAILURES_POLICY] if stream else [], timeout=300)
        functions.append((j["function"], logical))
        out.append(block)
        groups.append(group)
        out.append("      Events:\n")
        if not stream:
            # No Name: CloudFormation names each schedule, so two stacks never collide.
            out.append(f"        Schedule:\n          Type: ScheduleV2\n          Properties:\n            ScheduleExpression: {j['path']}\n            OmitName: true\n")
        else:
            stream_function = logical
            out.append("        Stream:\n          Type: DynamoDB\n          Properties:\n            Stream: !GetAtt Table.StreamArn\n")
            out.append(STREAM_MAPPING)
    return "".join(out) + "".join(groups) + alarms(functions, stream_function)


# The errors a route can answer with, each a problem+json (API.md §1).
ERRORS = {
    "400": "Invalid input: a bad field, query parameter, header or cursor (`errors` names each)",
    "401": "No credential, or one that is not valid, revoked, expired or of a suspended partner",
    "403": "The credential lacks the permission",
    "404": "Not found, or outside the caller's tree",
    "409": "A conflict: a name, email or username in use, a disallowed transition, or the same Idempotency-Key still running",
    "412": "If-Match names another version",
    "413": "The body is over 64 KiB",
    "415": "The body is not application/json",
    "422": "The Idempotency-Key was used with another body",
    "429": "Rate limited (repeated wrong passwords) or over a quota; see Retry-After",
    "503": "The store is unavailable or throttled; retry after Retry-After",
}


# `*` or one version's ETag; never empty (a fuzzer that cannot draw from the pattern would
# otherwise send "" as a valid value, which the API refuses: 412), never weak (If-Match
# compares strongly: `W/"1"` matches no version, 412). One plain string schema: client
# generators refuse alternatives in a header.
IF_MATCH = {"type": "string", "minLength": 1, "pattern": '^(\\*|"[0-9]{1,19}")$'}


def versioned(r, fn):
    """Whether a route takes If-Match (a change of a versioned resource; the white-label
    API updates with POST)."""
    if fn in ("set-client-permissions", "set-client-quotas"):
        return False
    return r["method"] in ("PATCH", "PUT", "DELETE") or fn == "update-client"


def errors(r, fn, has_body, o):
    """The problem responses of one route, by what it reads and does."""
    codes = ["400", "503"]
    if fn not in o.PUBLIC or fn == "issue-token":
        codes += ["401", "429"]
    elif fn == "exchange-console-link":
        codes.append("401")
    if fn not in o.PUBLIC:
        codes.append("403")
    if "{" in r["path"] or fn in o.NOT_FOUND or fn in ("activate-license", "deactivate-license"):
        codes.append("404")
    if r["method"] == "POST" or fn in o.CONFLICTS:
        codes.append("409")
    if r["method"] == "POST":
        codes.append("422")
    if versioned(r, fn):
        codes.append("412")
    if has_body:
        codes += ["413", "415"]
    if fn == "get-openapi":
        codes = []
    # Seed 001 answers errors with its own body, as JSON.
    if r["path"].startswith("/api/v1/clients"):
        problem = {"application/json": {"schema": o.ref("PartnerApiError")}}
    else:
        problem = {"application/problem+json": {"schema": o.ref("Problem")}}
    out = {c: {"description": ERRORS[c], "content": problem} for c in sorted(codes)}
    out["default"] = {"description": "An unexpected error (500; the response says nothing of its cause)", "content": problem}
    return out


# The stream consumer's event source mapping (API.md §5a: a record that can never be
# processed never blocks its shard). The function reports per-record failures and parks
# poison records itself (PARKED items, shared/src/webhooks.rs); what it still fails on
# (the store down for longer) is retried from the failed record, bisecting, at most
# 100 times and for at most 6 hours (the stream keeps records 24 h), then handed to the
# DeliveryFailures queue: the shard and sequence numbers, for an operator to redeliver.
# Only event inserts reach the function (a client's create writes about 17 items, one of
# them its event): the filter drops the rest before a batch is made, and the function
# takes a batch's events at once.
# Batch size and timeout: the function makes a batch's first attempts 32 at a time
# (webhooks::RUN_CONCURRENCY), each up to 10 s (webhooks::TIMEOUT), and an event goes to
# at most 20 endpoints. 25 events are then at most 500 attempts, 16 rounds of 10 s: 160 s
# against the 300 s timeout (a batch of 100 could take 630 s). Four batches per shard
# at once (ParallelizationFactor; events have keys of their own, so no order is lost)
# keep the throughput of the larger batch.
STREAM_MAPPING = """\
            StartingPosition: TRIM_HORIZON
            BatchSize: 25
            ParallelizationFactor: 4
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "EVENT#"}]}}}}'
            FunctionResponseTypes: [ReportBatchItemFailures]
            BisectBatchOnFunctionError: true
            MaximumRetryAttempts: 100
            MaximumRecordAgeInSeconds: 21600
            DestinationConfig:
              OnFailure:
                Destination: !GetAtt DeliveryFailures.Arn
"""
STREAM_FAILURES_POLICY = """\
            - Effect: Allow
              Action: sqs:SendMessage
              Resource: !GetAtt DeliveryFailures.Arn
"""


def openapi(rows):
    """The OpenAPI 3.1 document: paths from the route table, schemas from openapi_schemas.py."""
    import json
    sys.path.insert(0, os.path.join(ROOT, "infra"))
    import openapi_schemas as o

    paths = {}
    for r in rows:
        if is_console(r["path"]):
            continue
        fn = r["function"]
        spoken = dialect(r["path"])
        request, status, response = o.DIALECT_OPERATIONS.get((fn, spoken and spoken[0]), o.OPERATIONS[fn])
        op = {
            "operationId": f"{fn}-{spoken[0]}" if spoken else fn,
            "summary": r["summary"],
            "tags": [spoken[1] if spoken else r["path"].split("/")[2]],
        }
        if (fn, spoken and spoken[0]) in o.DIALECT_NOTES:
            op["description"] = o.DIALECT_NOTES[(fn, spoken[0])]
        params = [
            {"name": name, "in": "path", "required": True, "schema": o.PATH_PARAMS.get(name, {"type": "string", "format": "uuid"})}
            for name in re.findall(r"{(\w+)}", r["path"])
        ]
        params += query_params(fn, spoken)
        if r["method"] == "POST":
            params.append({"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"}})
        if (fn, spoken and spoken[0]) in o.DIALECT_DEPRECATED:
            op["deprecated"] = True
        if versioned(r, fn):
            params.append({"name": "If-Match", "in": "header", "schema": IF_MATCH})
        if params:
            op["parameters"] = params
        if request:
            op["requestBody"] = {"required": fn not in o.OPTIONAL_BODY, "content": {"application/json": {"schema": o.ref(request)}}}
        ok = {"description": "Success"}
        if response:
            ok["content"] = {"application/json": {"schema": o.ref(response)}}
        op["responses"] = {str(status): ok, **errors(r, fn, bool(request), o)}
        if fn in o.PUBLIC:
            op["security"] = [{"basic": []}] if fn == "issue-token" else []
        paths.setdefault(r["path"], {})[r["method"].lower()] = op
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "Clientele", "version": "1.0.0", "description": "Client management for white-label, reseller and partner platforms."},
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}, {"bearer": []}, {"basic": []}],
        "paths": paths,
        "components": {
            "schemas": o.SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def query_params(fn, spoken):
    """The query parameters an operation takes (its OpenAPI parameters `in: query`)."""
    import openapi_schemas as o

    params = []
    if fn in o.PAGED and spoken and spoken[0] == "partner-api":
        params += [
            {"name": "take", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
            {"name": "skip", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10000}},
        ]
    elif fn in o.PAGED and not (spoken and spoken[0] in ("hosting", "portal")):
        params += [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
            {"name": "take", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
            {"name": "skip", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10000}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        ]
    filters = o.DIALECT_FILTERS.get((fn, spoken and spoken[0]), o.FILTERS.get(fn, []))
    params += [
        {"name": q, "in": "query", **({"required": True} if q in o.REQUIRED_FILTERS.get((fn, spoken and spoken[0]), ()) else {}),
         "schema": o.FILTER_SCHEMAS.get(q, {"type": "string"})}
        for q in filters
    ]
    return params


def routes_rs(rows):
    """shared/src/routes.rs: each path's methods, for the 405's Allow header; and the query
    parameters each `/v1` operation takes, so any other is refused (shared/src/http.rs)."""
    by_path = {}
    for r in rows:
        by_path.setdefault(r["path"], []).append(r["method"])
    lines = ["//! Generated from infra/routes.tsv by infra/routes.py: each path template and its methods.", "", "/// (path template, methods it serves).", "pub const ROUTES: &[(&str, &[&str])] = &["]
    for path in sorted(by_path):
        methods = ", ".join(f'"{m}"' for m in sorted(by_path[path]))
        lines.append(f'    ("{path}", &[{methods}]),')
    lines.append("];")
    lines += ["", "/// (method, `/v1` path template, the query parameters it takes): as the OpenAPI document declares them.",
              "pub const QUERY: &[(&str, &str, &[&str])] = &["]
    for r in sorted(rows, key=lambda r: (r["path"], r["method"])):
        if not r["path"].startswith("/v1/") or is_console(r["path"]) or dialect(r["path"]):
            continue
        names = ", ".join(f'"{p["name"]}"' for p in query_params(r["function"], None))
        lines.append(f'    ("{r["method"]}", "{r["path"]}", &[{names}]),')
    lines.append("];")
    return "\n".join(lines) + "\n"


def expected():
    rows = routes()
    files = {}
    for r in first_rows(rows):
        files.update(crate_files(r["function"], r["handler"], r["summary"]))
    for function, handler, summary in FALLBACKS:
        files.update(crate_files(function, handler, summary))
    for j in routes("job"):
        files.update(crate_files(j["function"], j["handler"], j["summary"], job=j["method"]))
    files["shared/src/openapi.json"] = openapi(rows)
    files["shared/src/routes.rs"] = routes_rs(rows)
    files["shared/src/access_policy.rs"] = access_rs(access())
    cargo = open(os.path.join(ROOT, "Cargo.toml")).read()
    files["Cargo.toml"] = with_block(cargo, router(rows))
    template_path = os.path.join(ROOT, "infra", "template.yaml")
    if os.path.exists(template_path):
        files["infra/template.yaml"] = with_block(open(template_path).read(), template_block(rows))
    return files


def contract_routes_missing():
    """Every `METHOD /v1/...` route in the contract's tables must be in the route table."""
    contract = os.path.join(ROOT, "..", "shared", "API.md")
    if not os.path.exists(contract):
        # The comparison is the point of the check: without the contract it cannot pass.
        sys.exit(f"../shared/API.md not found (looked at {os.path.normpath(contract)}); the route table cannot be compared with the contract")
    text = open(contract).read()
    found = set()
    for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/v1/[^`\s]*)`", text):
        if path.endswith("/..."):
            continue
        found.add((method, path.split("?")[0]))
    # "`POST /v1/partners/{partnerId}/suspend`, `.../unsuspend`"
    for method, base in re.findall(r"`(POST) (/v1/[^`]*)/suspend`, `\.\.\./unsuspend`", text):
        found.add((method, base + "/unsuspend"))
    have = {(r["method"], r["path"]) for r in routes()}
    return sorted(f"{m} {p}" for m, p in found if (m, p) not in have)


def pending():
    """Contract routes not served yet (infra/pending.tsv: `METHOD path<TAB>why`). They are
    printed by every check, answer 404 like any unknown route, and may not also be routed."""
    path = os.path.join(ROOT, "infra", "pending.tsv")
    if not os.path.exists(path):
        return {}
    rows = {}
    for line in open(path):
        if line.strip() and not line.startswith("#"):
            route, why = line.rstrip("\n").split("\t", 1)
            rows[route.strip()] = why.strip()
    return rows


def main():
    check = "--check" in sys.argv
    stale = []
    for rel, content in expected().items():
        path = os.path.join(ROOT, rel)
        current = open(path).read() if os.path.exists(path) else None
        if current != content:
            stale.append(rel)
            if not check:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                with open(path, "w") as f:
                    f.write(content)
    waiting = pending()
    missing = [r for r in contract_routes_missing() if r not in waiting]
    routed = {f"{r['method']} {r['path']}" for r in routes()}
    if routed & set(waiting):
        sys.exit("routed and listed as pending in infra/pending.tsv: " + ", ".join(sorted(routed & set(waiting))))
    known = {r["function"] for r in routes() + routes("job")} | {f for f, _, _ in FALLBACKS}
    extra = sorted(set(os.listdir(os.path.join(ROOT, "functions"))) - known)
    keys = set(access())
    if keys != known:
        sys.exit("infra/access.tsv and infra/routes.tsv disagree: " + ", ".join(
            [f"{f} has no row in access.tsv" for f in sorted(known - keys)] + [f"{f} is no function" for f in sorted(keys - known)]))
    if check:
        for route, why in sorted(waiting.items()):
            print(f"PENDING (not served, answers 404): {route} ({why})")
        if missing:
            print("routes of ../shared/API.md missing from infra/routes.tsv:", ", ".join(missing))
        if stale or extra:
            print("out of step with infra/routes.tsv (run `make routes`):", ", ".join(stale + [f"functions/{e}" for e in extra]))
        if missing or stale or extra:
            sys.exit(1)
        print("routes: every generated file matches infra/routes.tsv")
    elif extra:
        print("functions without a route (remove them?):", ", ".join(extra))


if __name__ == "__main__":
    main()
