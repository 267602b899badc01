#!/usr/bin/env python3
"""Sets up two tenants for schemathesis (scripts/stack.sh test).

Usage: fuzz_tenants.py BASE_URL ADMIN_KEY OUT.json

Makes partner A (with a sub-partner, a client, a license, a webhook endpoint, an
API key and events) and partner B, each with an API key holding every
permission, and writes their keys and A's ids to OUT.json: the fuzzer runs with
A's key, and with B's key against A's ids, where only 404s may come back.
"""

import json
import secrets
import sys
import time
import urllib.request

PERMISSIONS = [f"{r}:{a}" for r in ("clients", "licenses", "webhooks", "partners", "keys") for a in ("view", "edit", "create", "remove")]


def call(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"x-api-key": key})
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"null")


def main(base, admin, out):
    tag = secrets.token_hex(6)

    def partner(name):
        # Resellers, so that the reseller portal dialect (resellers and agencies only) is fuzzed too.
        p = call(base, admin, "POST", "/v1/partners", {"name": f"fuzz-{name}-{tag}", "type": "reseller"})
        k = call(base, admin, "POST", "/v1/api-keys", {"partnerId": p["id"], "permissions": PERMISSIONS})
        return p, k["key"]

    (a, a_key), (b, b_key) = partner("a"), partner("b")
    sub = call(base, a_key, "POST", "/v1/partners", {"name": f"fuzz-a-sub-{tag}"})
    client = call(base, a_key, "POST", "/v1/clients", {"name": f"client-{tag}", "email": f"fuzz-{tag}@example.com", "username": f"fuzz-{tag}"})
    product = call(base, admin, "POST", "/v1/products", {"name": f"fuzz-{tag}", "slug": f"fuzz-{tag}"})
    license = call(base, a_key, "POST", "/v1/licenses", {"productId": product["id"], "tier": "t", "clientId": client["id"]})
    hook = call(base, a_key, "POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/fuzz", "events": ["*"]})
    key = call(base, a_key, "POST", "/v1/api-keys", {"permissions": ["clients:view"]})
    mate = call(base, a_key, "POST", "/v1/teammates", {"username": f"fuzz-mate-{tag}", "password": secrets.token_urlsafe(16)})
    event = call(base, a_key, "GET", "/v1/events?limit=1")["data"][0]
    # The hook's first attempts (its URL refuses connections) make an attempt to name.
    deadline = time.monotonic() + 60
    while not (attempts := call(base, a_key, "GET", f"/v1/webhooks/{hook['id']}/deliveries?limit=1")["data"]):
        if time.monotonic() > deadline:
            sys.exit("fuzz_tenants: the tenant's webhook made no delivery attempt in 60 s")
        time.sleep(0.5)
    ids = {
        "partnerId": sub["id"],
        "clientId": client["id"],
        "client_id": str(client["number"]),
        "username": client["username"],
        "apiKey": client["apiKey"],
        "searchTerm": client["username"],  # a path-safe term (an email's @ would be escaped in the path)
        "licenseId": license["id"],
        "webhookId": hook["id"],
        "attemptId": attempts[0]["id"],
        "keyId": key["id"],
        "teammateId": mate["id"],
        "eventId": event["id"],
    }
    with open(out, "w") as f:
        json.dump({"a_key": a_key, "b_key": b_key, "a_ids": ids}, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
