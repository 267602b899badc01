#!/usr/bin/env python3
"""`make deploy-check`: what the first `sam deploy` would run into, found without an account.

    .tools/venv/bin/python infra/deploy_check.py [--template infra/template.yaml] [--out .run/deploy-check]

It translates the SAM template as `sam validate` does (aws-sam-translator's `transform`,
with the local CodeUri replaced by an S3 location, as `sam package` writes it, and a
managed-policy map that needs no IAM call), then checks the *processed* template, the one
CloudFormation deploys, against the AWS limits that a translation does not enforce:

- every function's resource-based policy <= 20 KB (one statement per AWS::Lambda::Permission,
  as Lambda stores it, with the SourceArn and the function ARN expanded for a 128-character
  stack name, the longest Region and partition names and a 12-digit account);
- dynamic references (`{{resolve:`) <= 60;
- resources <= 500; the template <= 1 MB (SAM source and processed);
- each role's inline IAM policies <= 10,240 characters together (expanded the same way);
- HTTP API routes and integrations <= 300 each;
- no fixed physical names (a name that would collide with a second stack in the account);
- and the deployment's own claims, which the README makes and the template must keep:
  alarms on the five signals sent to the alarm topic, log retention on every function,
  access logs and default throttling on the API, the table kept on delete and protected,
  schedules without fixed names, and least privilege for the secrets (a function may read
  a secret only if infra/routes.py grants it, and reads exactly those).

It runs twice: with the parameters' defaults, and with every option turned on (tracing,
an alarm topic of one's own, the longest log retention). cfn-lint then lints each processed
template. Each check prints its figure and its margin; any failure exits 1.
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "infra"))

# Worst cases for the names CloudFormation and AWS generate.
STACK = ("clientele-" + "x" * 128)[:128]  # stack names are at most 128 characters
REGION = "ap-southeast-5"  # 14 characters, the longest Region name in use
PARTITION = "aws-us-gov"  # the longest partition name
ACCOUNT = "123456789012"
URL_SUFFIX = "amazonaws.com"

LIMITS = {
    "policy": 20 * 1024,  # Lambda: function resource-based policy
    "dynamic_references": 60,  # CloudFormation: dynamic references per template
    "resources": 500,  # CloudFormation: resources per stack
    "template": 1_000_000,  # CloudFormation: template body in S3 (1 MB)
    "inline_policies": 10_240,  # IAM: a role's inline policies together, characters
    "routes": 300,  # API Gateway HTTP API: routes per API
    "integrations": 300,  # API Gateway HTTP API: integrations per API
}

# The properties that name a resource in the account and Region (a second stack with the
# same literal name would collide), by type; any other top-level `...Name` property of a
# type not listed in NOT_NAMES is treated the same way.
NAME_PROPERTIES = {
    "AWS::Lambda::Function": ["FunctionName"],
    "AWS::DynamoDB::Table": ["TableName"],
    "AWS::IAM::Role": ["RoleName"],
    "AWS::IAM::ManagedPolicy": ["ManagedPolicyName"],
    "AWS::SQS::Queue": ["QueueName"],
    "AWS::SNS::Topic": ["TopicName"],
    "AWS::Scheduler::Schedule": ["Name"],
    "AWS::Scheduler::ScheduleGroup": ["Name"],
    "AWS::Events::Rule": ["Name"],
    "AWS::Logs::LogGroup": ["LogGroupName"],
    "AWS::CloudWatch::Alarm": ["AlarmName"],
    "AWS::SecretsManager::Secret": ["Name"],
    "AWS::S3::Bucket": ["BucketName"],
}
# (type, property) pairs that reference another resource or are not unique names.
NOT_NAMES = {
    ("AWS::Lambda::Permission", "FunctionName"),
    ("AWS::Lambda::EventSourceMapping", "FunctionName"),
    ("AWS::ApiGatewayV2::Stage", "StageName"),
    ("AWS::ApiGatewayV2::Api", "Name"),
    ("AWS::CloudWatch::Alarm", "MetricName"),
    ("AWS::CloudWatch::Alarm", "Namespace"),
    ("AWS::Lambda::Function", "Handler"),
}
# Generated physical names: maximum length by type.
NAME_LENGTH = {
    "AWS::Lambda::Function": 64,
    "AWS::IAM::Role": 64,
    "AWS::SQS::Queue": 80,
    "AWS::SNS::Topic": 256,
    "AWS::DynamoDB::Table": 255,
    "AWS::Logs::LogGroup": 512,
    "AWS::Scheduler::Schedule": 64,
    "AWS::Lambda::Permission": 100,  # the statement id Lambda keeps
}

# Parameter values for the "everything on" pass.
ALL_ON = {
    "Tracing": "Active",
    "AlarmTopicArn": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:" + "t" * 256,
    "LogRetentionDays": "3653",
    "ApiAccessLogs": "true",
}


def load_template(path):
    """The SAM template as JSON-like data, short-form tags (!Ref, !Sub...) in long form."""
    from cfnlint.decode import decode_str

    with open(path) as f:
        text = f.read()
    template, matches = decode_str(text)
    if matches:
        sys.exit(f"{path}: " + "; ".join(str(m) for m in matches))
    return json.loads(json.dumps(template)), text


def translate(sam, parameters):
    """aws-sam-translator's transform, as `sam validate` calls it, offline."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import logging

    logging.disable(logging.WARNING)  # the translator's notes on its own metrics
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    class NoIamCall(ManagedPolicyLoader):
        """The template names no managed policy by name: an empty map, and no IAM call."""

        def __init__(self):
            pass

        def load(self):
            return {}

    sam = copy.deepcopy(sam)
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # `sam package` replaces the local code with its S3 location (a 32-hex key).
            resource["Properties"]["CodeUri"] = (
                "s3://aws-sam-cli-managed-default-samclisourcebucket-abcdefghijkl/" + STACK[:60] + "/0123456789abcdef0123456789abcdef"
            )
    return transform(sam, dict(parameters), NoIamCall())


class Resolver:
    """Evaluates intrinsic functions with worst-case names (see the constants above)."""

    def __init__(self, template, parameters):
        self.t = template
        self.resources = template.get("Resources", {})
        self.params = {}
        for name, p in template.get("Parameters", {}).items():
            value = parameters.get(name, p.get("Default", ""))
            self.params[name] = value
        self.conditions = {}

    # Physical names and attributes of the stack's own resources.
    def name(self, logical):
        """`<stack>-<logical id>-<13 random characters>`, the stack's part cut to fit the type's
        maximum length (then the logical id's), as CloudFormation generates names."""
        return generated_name(logical, NAME_LENGTH.get(self.resources[logical]["Type"], 255))

    def ref(self, logical):
        pseudo = {
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/01234567-89ab-cdef-0123-456789abcdef",
            "AWS::URLSuffix": URL_SUFFIX,
        }
        if logical in pseudo:
            return pseudo[logical]
        if logical in self.params:
            return self.params[logical]
        kind = self.resources[logical]["Type"]
        if kind == "AWS::ApiGatewayV2::Api":
            return "a1b2c3d4e5"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT}/{self.name(logical)}"
        if kind in ("AWS::SNS::Topic",):
            return self.getatt(logical, "Arn")
        return self.name(logical)

    def getatt(self, logical, attr):
        kind = self.resources[logical]["Type"]
        n = self.name(logical)
        arn = f"arn:{PARTITION}"
        if kind == "AWS::Lambda::Function":
            return f"{arn}:lambda:{REGION}:{ACCOUNT}:function:{n}"
        if kind == "AWS::IAM::Role":
            return f"{arn}:iam::{ACCOUNT}:role/{n}"
        if kind == "AWS::DynamoDB::Table":
            table = f"{arn}:dynamodb:{REGION}:{ACCOUNT}:table/{n}"
            return table + "/stream/2026-12-31T23:59:59.999" if attr == "StreamArn" else table
        if kind == "AWS::SQS::Queue":
            return n if attr == "QueueName" else f"{arn}:sqs:{REGION}:{ACCOUNT}:{n}"
        if kind == "AWS::SNS::Topic":
            return n if attr == "TopicName" else f"{arn}:sns:{REGION}:{ACCOUNT}:{n}"
        if kind == "AWS::Logs::LogGroup":
            return f"{arn}:logs:{REGION}:{ACCOUNT}:log-group:{n}:*"
        return f"{arn}:{kind.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{n}"

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.eval(self.t["Conditions"][name]))
        return self.conditions[name]

    def sub(self, text, variables):
        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(self.eval(variables[key]))
            if "." in key:
                logical, attr = key.split(".", 1)
                return self.getatt(logical, attr)
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def eval(self, v):  # noqa: C901 - one case per intrinsic
        if isinstance(v, list):
            out = [self.eval(x) for x in v]
            return [x for x in out if x is not NOVALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return NOVALUE if a == "AWS::NoValue" else self.ref(a)
            if k == "Fn::GetAtt":
                logical, attr = a if isinstance(a, list) else a.split(".", 1)
                return self.getatt(logical, attr)
            if k == "Fn::Sub":
                return self.sub(a, {}) if isinstance(a, str) else self.sub(a[0], a[1])
            if k == "Fn::Join":
                return a[0].join(str(x) for x in self.eval(a[1]))
            if k == "Fn::Select":
                return self.eval(a[1])[int(self.eval(a[0]))]
            if k == "Fn::Split":
                return str(self.eval(a[1])).split(a[0])
            if k == "Fn::If":
                return self.eval(a[1] if self.condition(a[0]) else a[2])
            if k == "Fn::Equals":
                return str(self.eval(a[0])) == str(self.eval(a[1]))
            if k == "Fn::Not":
                return not self.eval(a[0])
            if k == "Fn::And":
                return all(self.eval(x) for x in a)
            if k == "Fn::Or":
                return any(self.eval(x) for x in a)
            if k == "Condition":
                return self.condition(a)
            if k == "Fn::FindInMap":
                return self.t["Mappings"][self.eval(a[0])][self.eval(a[1])][self.eval(a[2])]
            if k == "Fn::GetAZs":
                return [REGION + "a", REGION + "b", REGION + "c"]
        out = {}
        for k, x in v.items():
            x = self.eval(x)
            if x is not NOVALUE:
                out[k] = x
        return out

    def present(self, logical):
        """Whether a resource exists with these parameters (its Condition)."""
        c = self.resources[logical].get("Condition")
        return c is None or self.condition(c)


NOVALUE = object()


def generated_name(logical, limit):
    import hashlib

    suffix = hashlib.sha256(logical.encode()).hexdigest()[:13].upper()
    tail = f"-{logical}-{suffix}"
    if len(tail) > limit - 2:
        tail = f"-{logical[: limit - 17]}-{suffix}"
    return (STACK[: limit - len(tail)] + tail)[:limit]


def depends_on_stack(v, template):
    """Whether a value differs from one stack to another: it refers to the stack's name or
    id, or to one of its resources (whose names CloudFormation generates)."""
    if isinstance(v, str):
        return False
    if isinstance(v, list):
        return any(depends_on_stack(x, template) for x in v)
    if isinstance(v, dict):
        if "Ref" in v and len(v) == 1:
            r = v["Ref"]
            return r in ("AWS::StackName", "AWS::StackId") or r in template.get("Resources", {})
        if "Fn::GetAtt" in v:
            return True
        if "Fn::Sub" in v:
            a = v["Fn::Sub"]
            text, variables = (a, {}) if isinstance(a, str) else (a[0], a[1])
            names = re.findall(r"\$\{([^}!.]+)[^}]*\}", text)
            if any(n in ("AWS::StackName", "AWS::StackId") or n in template.get("Resources", {}) for n in names):
                return True
            return any(depends_on_stack(x, template) for x in variables.values())
        return any(depends_on_stack(x, template) for x in v.values())
    return False


def compact(v):
    return json.dumps(v, separators=(",", ":"))


class Report:
    def __init__(self):
        self.failures = []

    def limit(self, what, figure, limit, unit="", detail=""):
        ok = figure <= limit
        margin = limit - figure
        status = "ok  " if ok else "FAIL"
        print(f"  {status} {what}: {figure:,}{unit} of {limit:,}{unit} (margin {margin:,}{unit}, {100 * margin / limit:.0f}%)" + (f"; {detail}" if detail else ""))
        if not ok:
            self.failures.append(what)

    def claim(self, what, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail else ""))
        if not ok:
            self.failures.append(what)


def check_limits(report, sam_text, t, r):
    resources = {k: v for k, v in t["Resources"].items() if r.present(k)}

    # 1. Each function's resource-based policy, as Lambda stores it.
    statements = {}
    for logical, res in resources.items():
        if res["Type"] != "AWS::Lambda::Permission":
            continue
        p = res["Properties"]
        fn = p["FunctionName"]
        fn_logical = fn.get("Ref") or fn.get("Fn::GetAtt", [None])[0] if isinstance(fn, dict) else fn
        function_arn = r.getatt(fn_logical, "Arn") if fn_logical in resources else str(r.eval(fn))
        principal = r.eval(p["Principal"])
        statement = {
            "Sid": generated_name(logical, 100),
            "Effect": "Allow",
            "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
            "Action": r.eval(p["Action"]),
            "Resource": function_arn,
        }
        condition = {}
        if "SourceArn" in p:
            condition["ArnLike"] = {"AWS:SourceArn": r.eval(p["SourceArn"])}
        if "SourceAccount" in p:
            condition["StringEquals"] = {"AWS:SourceAccount": r.eval(p["SourceAccount"])}
        if condition:
            statement["Condition"] = condition
        statements.setdefault(fn_logical, []).append(statement)
    sizes = {fn: len(compact({"Version": "2012-10-17", "Id": "default", "Statement": s})) for fn, s in statements.items()}
    if sizes:
        worst = max(sizes, key=sizes.get)
        report.limit("largest function resource-based policy", sizes[worst], LIMITS["policy"], " B",
                     f"{worst}, {len(statements[worst])} permissions ({len(sizes)} functions have one)")
    else:
        report.limit("largest function resource-based policy", 0, LIMITS["policy"], " B", "no permissions")

    # 2. Dynamic references.
    text = compact(t)
    refs = len(re.findall(r"\{\{resolve:", text))
    report.limit("dynamic references ({{resolve:...}})", refs, LIMITS["dynamic_references"])

    # 3. Resources.
    report.limit("resources", len(resources), LIMITS["resources"])

    # 4. Template size: the source sam deploy uploads, and the processed template.
    report.limit("template size, SAM source", len(sam_text.encode()), LIMITS["template"], " B")
    report.limit("template size, processed (compact JSON)", len(text.encode()), LIMITS["template"], " B")

    # 5. Inline IAM policies per role.
    role_sizes = {}
    for logical, res in resources.items():
        if res["Type"] == "AWS::IAM::Role":
            docs = [r.eval(p["PolicyDocument"]) for p in res["Properties"].get("Policies", []) or []]
            role_sizes[logical] = sum(len(re.sub(r"\s", "", compact(d))) for d in docs)
    worst = max(role_sizes, key=role_sizes.get)
    report.limit("largest role's inline policies", role_sizes[worst], LIMITS["inline_policies"], " chars", worst)

    # 6. Routes and integrations of each HTTP API.
    for logical, res in resources.items():
        if res["Type"] != "AWS::ApiGatewayV2::Api":
            continue
        body = res["Properties"].get("Body", {})
        routes = integrations = 0
        for path, ops in body.get("paths", {}).items():
            for method, op in ops.items():
                if method in ("parameters", "summary", "description"):
                    continue
                routes += 1
                integrations += "x-amazon-apigateway-integration" in op
        report.limit(f"{logical} routes", routes, LIMITS["routes"])
        report.limit(f"{logical} integrations", integrations, LIMITS["integrations"])

    # 7. Fixed physical names.
    fixed = []
    for logical, res in resources.items():
        kind, props = res["Type"], res.get("Properties", {})
        names = set(NAME_PROPERTIES.get(kind, []))
        names |= {k for k in props if (k == "Name" or k.endswith("Name")) and (kind, k) not in NOT_NAMES}
        for k in sorted(names):
            if k in props and not depends_on_stack(props[k], t):
                fixed.append(f"{logical}.{k}={r.eval(props[k])!r}")
    report.claim("no fixed physical names", not fixed, ", ".join(fixed) if fixed else f"{len(resources)} resources checked")
    return resources


def check_claims(report, t, r, resources, parameters):
    """What the README says of the deployment, as the processed template has it."""
    import routes as gen

    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    alarms = {k: r.eval(v["Properties"]) for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    topic = parameters.get("AlarmTopicArn") or None

    # Alarms: each signal, each with the alarm topic as its action.
    def metrics(props):
        out = []
        if "MetricName" in props:
            out.append((props.get("Namespace"), props["MetricName"], props.get("Dimensions", [])))
        for m in props.get("Metrics", []):
            s = m.get("MetricStat")
            if s:
                out.append((s["Metric"].get("Namespace"), s["Metric"]["MetricName"], s["Metric"].get("Dimensions", [])))
        return out

    covered = {}
    expected = [topic or r.ref("AlarmTopic")]
    for name, props in alarms.items():
        for key in ("AlarmActions", "OKActions"):
            if props.get(key) != expected:
                report.claim(f"alarm {name} {key} is the alarm topic", False, f"{props.get(key)!r}, not {expected!r}")
        for ns, metric, dims in metrics(props):
            for d in dims:
                covered.setdefault((ns, metric), set()).add(str(d.get("Value")))
    function_names = {r.ref(f) for f in functions}
    api_ids = {r.ref(k) for k, v in resources.items() if v["Type"] == "AWS::ApiGatewayV2::Api"}
    queue_names = {r.getatt(k, "QueueName") for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    stream_functions = {r.ref(v["Properties"]["FunctionName"]["Ref"]) for v in resources.values()
                        if v["Type"] == "AWS::Lambda::EventSourceMapping" and "Ref" in v["Properties"]["FunctionName"]}
    for what, key, need in [
        ("API 5xx alarm on every HTTP API", ("AWS/ApiGateway", "5xx"), api_ids),
        ("function error alarms cover every function", ("AWS/Lambda", "Errors"), function_names),
        ("throttle alarms cover every function", ("AWS/Lambda", "Throttles"), function_names),
        ("stream iterator age alarm on every stream consumer", ("AWS/Lambda", "IteratorAge"), stream_functions),
        ("failed-deliveries queue depth alarm on every queue", ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), queue_names),
    ]:
        missing = need - covered.get(key, set())
        report.claim(what, not missing and bool(need), f"{len(need) - len(missing)} of {len(need)}" + (f"; missing {sorted(missing)[:3]}" if missing else ""))
    report.claim("every alarm notifies the alarm topic (alarm and OK)", bool(alarms),
                 f"{len(alarms)} alarms -> " + ("the AlarmTopicArn parameter" if topic else "the stack's own AlarmTopic"))

    # Log retention: each function logs to a group of the stack with the retention parameter.
    groups = {k: r.eval(v["Properties"]) for k, v in resources.items() if v["Type"] == "AWS::Logs::LogGroup"}
    retention = int(r.params.get("LogRetentionDays", 0) or 0)
    unkept = []
    for logical, res in functions.items():
        lg = res["Properties"].get("LoggingConfig", {}).get("LogGroup")
        target = lg.get("Ref") if isinstance(lg, dict) else None
        if target not in groups or int(groups[target].get("RetentionInDays", 0)) != retention:
            unkept.append(logical)
    report.claim("every function logs to a group with the LogRetentionDays retention", not unkept and retention > 0,
                 f"{len(functions) - len(unkept)} of {len(functions)} at {retention} days" + (f"; not {unkept[:3]}" if unkept else ""))

    # The API: access logs and default throttling.
    for logical, res in resources.items():
        if res["Type"] != "AWS::ApiGatewayV2::Stage":
            continue
        props = r.eval(res["Properties"])
        logs = props.get("AccessLogSettings", {})
        wanted = r.params.get("ApiAccessLogs", "true") == "true"
        report.claim(f"{logical} access logs {'on' if wanted else 'off'} as ApiAccessLogs says", bool(logs.get("DestinationArn")) == wanted,
                     logs.get("DestinationArn", "none")[:60])
        route = props.get("DefaultRouteSettings", {})
        report.claim(f"{logical} default route throttling", bool(route.get("ThrottlingRateLimit")) and bool(route.get("ThrottlingBurstLimit")),
                     f"{route.get('ThrottlingRateLimit')} requests/s, burst {route.get('ThrottlingBurstLimit')}")

    # The table: kept on delete and on replacement, protected against deletion.
    for logical, res in resources.items():
        if res["Type"] == "AWS::DynamoDB::Table":
            ok = res.get("DeletionPolicy") == "Retain" and res.get("UpdateReplacePolicy") == "Retain" and res["Properties"].get("DeletionProtectionEnabled") is True
            report.claim(f"{logical} kept on delete (Retain, UpdateReplacePolicy Retain, deletion protection)", ok)

    # Tracing, as the parameter says.
    tracing = r.params.get("Tracing", "Disabled")
    traced = [k for k, v in functions.items() if r.eval(v["Properties"].get("TracingConfig", {}).get("Mode")) == "Active"]
    report.claim(f"X-Ray tracing {tracing}", len(traced) == (len(functions) if tracing == "Active" else 0), f"{len(traced)} of {len(functions)} functions traced")

    # Least privilege for the secrets: exactly the grants of infra/routes.py, in IAM and in
    # the function's SECRETS variable, and GetSecretValue on nothing else.
    grants = gen.secret_grants() if hasattr(gen, "secret_grants") else {}
    roles = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    binaries = {gen.logical_id(f): f for f in grants}
    wrong = [f"{logical}: no grants in infra/routes.py" for logical in functions if logical not in binaries]
    for logical, res in functions.items():
        binary = binaries.get(logical)
        if binary is None:
            continue
        env = res["Properties"].get("Environment", {}).get("Variables", {})
        want = set(grants[binary])
        said = set(x for x in str(r.eval(env.get("SECRETS", ""))).split(",") if x and x != "none")
        role = res["Properties"]["Role"]["Fn::GetAtt"][0]
        allowed = set()
        for p in roles[role]["Properties"].get("Policies", []):
            for s in r.eval(p["PolicyDocument"]).get("Statement", []):
                actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
                if any(a.startswith("secretsmanager:") or a == "*" for a in actions):
                    if actions != ["secretsmanager:GetSecretValue"] or s.get("Effect") != "Allow":
                        wrong.append(f"{logical}: {actions}")
                    for arn in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
                        m = re.fullmatch(rf"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:" + re.escape(r.params["SecretsName"]) + r"/([a-z]+)-\?{6}", arn)
                        allowed.add(m.group(1) if m else f"<{arn}>")
        for p in roles[role]["Properties"].get("ManagedPolicyArns", []):
            if "SecretsManager" in str(r.eval(p)):
                wrong.append(f"{logical}: managed policy {r.eval(p)}")
        if said != want or allowed != want:
            wrong.append(f"{logical} ({binary}): grants {sorted(want)}, SECRETS {sorted(said)}, IAM {sorted(allowed)}")
    readers = {s: sum(1 for f in grants.values() if s in f) for s in sorted({s for f in grants.values() for s in f})}
    report.claim("secrets: each function reads exactly its grants and IAM allows just those", not wrong,
                 "; ".join(wrong[:4]) if wrong else ", ".join(f"{s}: {n} of {len(functions)} functions" for s, n in readers.items()))
    # DynamoDB: item actions only on listed partition keys, Query on listed indexes; never
    # Scan, never a wildcard, never table administration (README, "Contract, deploy and benchmark").
    item = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem",
            "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    broad = []
    for logical, res in roles.items():
        for p in res["Properties"].get("Policies", []):
            for s in r.eval(p["PolicyDocument"]).get("Statement", []):
                actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
                ddb = [a for a in actions if a.startswith("dynamodb:") or a == "*"]
                if not ddb:
                    continue
                if set(ddb) - item:
                    broad.append(f"{logical}: {sorted(set(ddb) - item)}")
                resources_ = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
                on_indexes = all("/index/" in x for x in resources_)
                keyed = "dynamodb:LeadingKeys" in compact(s.get("Condition", {}))
                if not keyed and not (on_indexes and ddb == ["dynamodb:Query"]):
                    broad.append(f"{logical}: {ddb} without dynamodb:LeadingKeys")
        for m in res["Properties"].get("ManagedPolicyArns", []):
            if "DynamoDB" in str(r.eval(m)) and "ExecutionRole" not in str(r.eval(m)):
                broad.append(f"{logical}: managed policy {r.eval(m)}")
    report.claim("DynamoDB: item actions on listed keys and indexes only (no Scan, no wildcard, no table administration)",
                 not broad, "; ".join(broad[:4]) if broad else f"{len(roles)} roles checked")
    plain = [k for k, v in functions.items() if set(v["Properties"].get("Environment", {}).get("Variables", {})) & {"CURSOR_SECRET", "JWT_SECRET", "WEBHOOK_KEY", "ADMIN_API_KEY_SHA256"}]
    report.claim("no secret value in any function's configuration", not plain, ", ".join(plain[:3]))


def cfn_lint(path, parameters):
    """cfn-lint over the processed template, with the parameters it was translated with
    (the translator has already resolved them where SAM needs them, e.g. Tracing)."""
    exe = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    given = ["--parameters", *[f"{k}={v}" for k, v in parameters.items()]] if parameters else []
    return subprocess.Popen([exe, "--format", "parseable", *given, "--", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", default=os.path.join(ROOT, "infra", "template.yaml"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".run", "deploy-check"))
    ap.add_argument("--no-claims", action="store_true", help="the AWS limits only")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sam, text = load_template(args.template)
    print(f"deploy-check: {os.path.relpath(args.template, ROOT)} translated with aws-sam-translator; worst-case names: "
          f"a {len(STACK)}-character stack, Region {REGION}, partition {PARTITION}")
    failures = []
    # What ships: each function's code is the arm64 bootstrap make package built and make
    # rehearse ran (target/lambda/<function>/), uploaded as it is; no `sam build` compiles
    # anything a second time.
    report = Report()
    crates = sorted(d for d in os.listdir(os.path.join(ROOT, "functions")) if os.path.isfile(os.path.join(ROOT, "functions", d, "Cargo.toml")))
    shipped = {}
    for logical, res in sam.get("Resources", {}).items():
        if res.get("Type") == "AWS::Serverless::Function":
            props = res.get("Properties", {})
            m = re.fullmatch(r"\.\./target/lambda/([a-z0-9-]+)\.zip", str(props.get("CodeUri", "")))
            ok = bool(m) and "Metadata" not in res and props.get("Handler") == "bootstrap"
            shipped[logical] = m.group(1) if m else None
            if not ok:
                report.claim(f"{logical} ships a make package bootstrap", False, f"CodeUri {props.get('CodeUri')!r}, Metadata {res.get('Metadata')}")
    report.claim("every function ships its make package zip (CodeUri ../target/lambda/<function>.zip, no sam build)",
                 sorted(v for v in shipped.values() if v) == crates, f"{len(shipped)} functions, {len(crates)} crates")
    failures += report.failures
    declared = sam.get("Parameters", {})
    lints = []
    for label, params in (("defaults", {}), ("every option on", {k: v for k, v in ALL_ON.items() if k in declared})):
        print(f"\n[{label}]" + (f" {', '.join(f'{k}={v[:24]}' for k, v in params.items())}" if params else ""))
        report = Report()
        try:
            t = translate(sam, params)
        except Exception as e:  # the translator's own refusal is a failure like any other
            print(f"  FAIL translation: {e}")
            failures.append(f"{label}: translation")
            continue
        processed = os.path.join(args.out, f"processed-{label.replace(' ', '-')}.json")
        with open(processed, "w") as f:
            json.dump(t, f, indent=1)
        lints.append((label, processed, cfn_lint(processed, params)))  # runs meanwhile
        r = Resolver(t, params)
        resources = check_limits(report, text, t, r)
        if not args.no_claims:
            check_claims(report, t, r, resources, params)
        failures += [f"{label}: {f}" for f in report.failures]
    print()
    for label, processed, lint in lints:
        out, _ = lint.communicate()
        ok = lint.returncode == 0
        print(f"  {'ok  ' if ok else 'FAIL'} cfn-lint on the processed template ({label}): " + ("no findings" if ok else "\n    " + out.strip().replace("\n", "\n    ")))
        if not ok:
            failures.append(f"{label}: cfn-lint")
    print()
    if failures:
        print(f"deploy-check FAILED ({len(failures)}): " + "; ".join(failures))
        sys.exit(1)
    print("deploy-check passed")


if __name__ == "__main__":
    main()
