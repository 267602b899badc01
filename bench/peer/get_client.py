"""The retrieve-client operation as most teams would write it: a Python Lambda
function with boto3, doing the same reads as Clientele's get-client (key grant,
partner chain, client). `make bench` runs it under the same local Lambda Runtime
API as the Rust functions to compare cold start and memory."""
import hashlib
import json
import os
import urllib.request

import boto3

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
TABLE = os.environ["TABLE_NAME"]
ddb = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION"), endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))


def handler(event):
    key = (event.get("headers") or {}).get("x-api-key", "")
    digest = hashlib.sha256(key.encode()).hexdigest()
    grant = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"KEYHASH#{digest}"}, "sk": {"S": "#"}}, ConsistentRead=True).get("Item")
    if not grant:
        return {"statusCode": 401, "body": "{}"}
    path = [p["S"] for p in grant["partnerPath"]["L"]]
    got = ddb.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": f"PARTNER#{p}"}, "sk": {"S": "#"}} for p in path], "ConsistentRead": True}})
    if any(p["suspended"]["BOOL"] for p in got["Responses"][TABLE]):
        return {"statusCode": 401, "body": "{}"}
    client_id = event["pathParameters"]["clientId"]
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"CLIENT#{client_id}"}, "sk": {"S": "#"}}, ConsistentRead=True).get("Item")
    if not item:
        return {"statusCode": 404, "body": "{}"}
    body = {k: v.get("S", v.get("N")) for k, v in item.items() if "S" in v or "N" in v}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


while True:
    with urllib.request.urlopen(f"http://{API}/2018-06-01/runtime/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(r)
    out = json.dumps(handler(event)).encode()
    req = urllib.request.Request(f"http://{API}/2018-06-01/runtime/invocation/{request_id}/response", data=out, method="POST")
    urllib.request.urlopen(req).read()
