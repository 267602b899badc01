"""Retrieve, create and list clients as most teams would write them: one Python Lambda
function with boto3, making the DynamoDB requests of Clientele's get-client,
create-client and list-clients one after another (key grant, partner chain; then the
client; or the create's one transaction with its claims, list entries, counters and
event, items of similar shape and size; or the page's Query of each list partition, its clients and the total). `make bench` runs it under the same local
Lambda Runtime API as the Rust functions (cold start, warm duration, memory)."""
import hashlib
import json
import os
import random
import secrets
import time
import urllib.request
import uuid
from datetime import datetime, timezone

import boto3

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
TABLE = os.environ["TABLE_NAME"]
ddb = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION"), endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
# A scope's lists are one partition wide until DynamoDB throttles them
# (shared/src/store/lists.rs); the peer lists only its own partner's, which is never widened.
LIST_WIDTH = 1
COUNTER_SHARDS = 8


def shard_pk(base, id):
    """The partition of list `base` holding `id` (FNV-1a modulo the width, as shared/src/store/lists.rs)."""
    h = 0x811C9DC5
    for b in id.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{base}#{h % LIST_WIDTH}"


def reply(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def plain(item):
    out = {}
    for k, v in item.items():
        if "S" in v:
            out[k] = v["S"]
        elif "N" in v:
            out[k] = int(v["N"])
        elif "BOOL" in v:
            out[k] = v["BOOL"]
    return out


def key(pk, sk="#"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def authenticate(event):
    api_key = (event.get("headers") or {}).get("x-api-key", "")
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    grant = ddb.get_item(TableName=TABLE, Key=key(f"KEYHASH#{digest}"), ConsistentRead=True).get("Item")
    if not grant:
        return None
    path = [p["S"] for p in grant["partnerPath"]["L"]]
    got = ddb.batch_get_item(RequestItems={TABLE: {"Keys": [key(f"PARTNER#{p}") for p in path], "ConsistentRead": True}})
    chain = {p["pk"]["S"][len("PARTNER#"):]: p for p in got["Responses"][TABLE]}
    if len(chain) != len(path) or any(p["suspended"]["BOOL"] for p in chain.values()):
        return None
    return path, chain[path[-1]]


def get_client(event, path, partner):
    client_id = event["pathParameters"]["clientId"]
    item = ddb.get_item(TableName=TABLE, Key=key(f"CLIENT#{client_id}"), ConsistentRead=True).get("Item")
    if not item or partner["pk"]["S"][len("PARTNER#"):] not in [a["S"] for a in item["ancestors"]["L"]]:
        return reply(404, {})
    return reply(200, plain(item))


def create_client(event, path, partner):
    body = json.loads(event.get("body") or "{}")
    name, email = str(body.get("name", "")).strip(), str(body.get("email", "")).strip()
    if not name or "@" not in email:
        return reply(400, {"errors": ["name and email are required"]})
    pid = path[-1]
    now = datetime.now(timezone.utc).isoformat()
    cid, eid = str(uuid.uuid4()), str(uuid.uuid4())
    number = (int(time.time() * 1000) << 12) | random.randrange(4096)
    api_key = "ck_" + secrets.token_urlsafe(32)
    client = {
        "id": cid, "number": number, "name": name, "email": email, "status": "demo", "suspended": False,
        "directPartner": pid, "partner": path[0], "ancestors": path, "licenseCount": 0, "domainCount": 0,
        "apiKeyPrefix": api_key[:8], "apiKeyHash": hashlib.sha256(api_key.encode()).hexdigest(),
        "created": now, "modified": now, "version": 0,
    }
    item = {k: ({"N": str(v)} if isinstance(v, int) and not isinstance(v, bool) else {"BOOL": v} if isinstance(v, bool)
                else {"L": [{"S": a} for a in v]} if isinstance(v, list) else {"S": v}) for k, v in client.items()}
    must_be_new = {"ConditionExpression": "attribute_not_exists(pk)"}
    writes = [{"Put": {"TableName": TABLE, "Item": {**key(f"CLIENT#{cid}"), **item}, **must_be_new}}]
    for claim in (f"UNIQUE#EMAIL#{email.lower()}", f"UNIQUE#CLIENTNAME#{pid}#{name.lower()}",
                  f"CLIENTKEY#{client['apiKeyHash']}", f"NUMBER#CLIENT#{number}"):
        writes.append({"Put": {"TableName": TABLE, "Item": {**key(claim), "id": {"S": cid}}, **must_be_new}})
    scopes = ["ALL"] + path
    for scope in scopes:
        entry = {**key(shard_pk(f"CLIENTS#{scope}", cid), cid), "id": {"S": cid}, "status": {"S": "demo"}, "suspended": {"BOOL": False},
                 "gsi1pk": {"S": shard_pk(f"CLIENTS#{scope}#st#demo", cid)}, "gsi1sk": {"S": cid},
                 "gsi2pk": {"S": shard_pk(f"CLIENTS#{scope}#su#false", cid)}, "gsi2sk": {"S": cid},
                 "gsi3pk": {"S": shard_pk(f"CLIENTS#{scope}#st#demo#su#false", cid)}, "gsi3sk": {"S": cid},
                 "gsi4pk": {"S": shard_pk(f"CLIENTS#{scope}#name", cid)}, "gsi4sk": {"S": f"{name.lower()}#{cid}"}}
        writes.append({"Put": {"TableName": TABLE, "Item": entry}})
        writes.append({"Update": {"TableName": TABLE, "Key": key(f"COUNT#CLIENTS#{scope}#{random.randrange(COUNTER_SHARDS)}"),
                                  "UpdateExpression": "ADD #a :one, #b :one, #c :one, #d :one",
                                  "ExpressionAttributeNames": {"#a": "total", "#b": "st_demo", "#c": "su_false", "#d": "st_demo_su_false"},
                                  "ExpressionAttributeValues": {":one": {"N": "1"}}}})
    writes.append({"Put": {"TableName": TABLE, "Item": {**key(f"EVENT#{eid}"), "id": {"S": eid}, "type": {"S": "client.created"},
                                                         "createdAt": {"S": now}, "data": {"S": json.dumps(client)}}}})
    for scope in scopes:
        writes.append({"Put": {"TableName": TABLE, "Item": {**key(shard_pk(f"EVENTS#{scope}", eid), eid), "id": {"S": eid},
                                                             "gsi1pk": {"S": shard_pk(f"EVENTS#{scope}#client.created", eid)}, "gsi1sk": {"S": eid}}}})
        writes.append({"Update": {"TableName": TABLE, "Key": key(f"COUNT#EVENTS#{scope}#{random.randrange(COUNTER_SHARDS)}"),
                                  "UpdateExpression": "ADD #a :one, #b :one",
                                  "ExpressionAttributeNames": {"#a": "total", "#b": "type_client.created"},
                                  "ExpressionAttributeValues": {":one": {"N": "1"}}}})
    try:
        ddb.transact_write_items(TransactItems=writes, ClientRequestToken=str(uuid.uuid4()))
    except ddb.exceptions.TransactionCanceledException:
        return reply(409, {"errorCode": "taken"})
    return reply(201, {**client, "apiKey": api_key})


def list_clients(event, path, partner):
    params = event.get("queryStringParameters") or {}
    limit = min(max(int(params.get("limit", "10")), 1), 100)
    pid = path[-1]
    page = []
    for shard in range(LIST_WIDTH):
        page += ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": f"CLIENTS#{pid}#{shard}"}},
                          ScanIndexForward=False, ConsistentRead=True, Limit=limit + 1)["Items"]
    page = sorted(page, key=lambda e: e["sk"]["S"], reverse=True)[:limit + 1]
    ids = [e["id"]["S"] for e in page[:limit]]
    clients = []
    if ids:
        got = ddb.batch_get_item(RequestItems={TABLE: {"Keys": [key(f"CLIENT#{i}") for i in ids], "ConsistentRead": True}})
        by_id = {c["id"]["S"]: plain(c) for c in got["Responses"][TABLE]}
        clients = [by_id[i] for i in ids if i in by_id]
    shards = ddb.batch_get_item(RequestItems={TABLE: {"Keys": [key(f"COUNT#CLIENTS#{pid}#{i}") for i in range(COUNTER_SHARDS)], "ConsistentRead": True}})
    total = sum(int(s.get("total", {}).get("N", "0")) for s in shards["Responses"][TABLE])
    return reply(200, {"total": total, "data": clients, "nextCursor": ids[-1] if len(page) > limit else None})


ROUTES = {"GET /v1/clients/{clientId}": get_client, "POST /v1/clients": create_client, "GET /v1/clients": list_clients}


def handler(event):
    who = authenticate(event)
    if who is None:
        return reply(401, {})
    route = ROUTES.get(event.get("routeKey"))
    return route(event, *who) if route else reply(404, {})


while True:
    with urllib.request.urlopen(f"http://{API}/2018-06-01/runtime/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(r)
    out = json.dumps(handler(event)).encode()
    req = urllib.request.Request(f"http://{API}/2018-06-01/runtime/invocation/{request_id}/response", data=out, method="POST")
    urllib.request.urlopen(req).read()
