#!/usr/bin/env python3
"""A fault proxy between the functions and DynamoDB Local, for the fault suite.

Usage: store_faults.py LISTEN_PORT UPSTREAM_URL PORT_FILE

DynamoDB Local never throttles, never cancels a transaction for contention and never
answers `TransactionInProgressException`; DynamoDB does all three. The fault stack
points the functions' `AWS_ENDPOINT_URL_DYNAMODB` here. Every call is passed on to
DynamoDB Local unchanged, except those a rule of the current plan takes:

    PUT /__faults  [{"operation": "TransactWriteItems" | "GetItem" | ... | "*",
                     "fault": "throttle" | "conflict" | "in_progress" | "applied_in_progress"
                              | "hold",
                     "contains": "text",   (optional: only calls whose body contains it)
                     "count": N}]     replaces the plan (each rule takes its next N calls)
                                      and releases the calls an earlier plan held
    GET /__faults  {"injected": {fault: n}, "plan": [...], "passed": n, "held": n,
                    "in_flight": {operation: calls sent on and not yet answered}}
    POST /__faults/release          lets every held call go on
    DELETE /__faults                clears the plan and the counts, and releases held calls

- throttle: 400 `ThrottlingException`, nothing forwarded (the SDK retries it itself).
- conflict: 400 `TransactionCanceledException`, one `TransactionConflict` reason per
  item, nothing forwarded (another transaction held the items).
- in_progress: 400 `TransactionInProgressException`, nothing forwarded.
- applied_in_progress: the call IS forwarded and applied, its answer dropped, and the
  caller told `TransactionInProgressException`, as when the SDK's resend of a call whose
  answer was lost finds the first still running. A caller that then repeats the call
  with a new ClientRequestToken applies it twice (or fails on its own conditions).
- hold: the call waits here (counted in "held") until released, or HOLD_SECONDS at
  most, then goes on unchanged: a request stopped at a known point of its work, for as
  long as the test needs, without freezing any process.

It serves loopback only and stops with its process group.
"""

import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "com.amazonaws.dynamodb.v20120810#"
LOCK = threading.Lock()
STATE = {"plan": [], "injected": {}, "passed": 0, "in_flight": {}, "held": 0}
# Set when held calls may go on; replaced by a fresh one for the calls held after that.
RELEASE = threading.Event()
# Longer than any test holds a call. (The functions' store client gives up on an attempt
# after 2 s and retries: a call held longer has lost its caller, whose retry is not held.)
HOLD_SECONDS = 20
UPSTREAM = None
LOCAL = threading.local()


def take(operation, body):
    """The fault the plan assigns to this call, if any (and counts it), and for a held
    call the event that releases it (taken with the count, so no release falls between)."""
    with LOCK:
        for rule in STATE["plan"]:
            if rule.get("contains") and rule["contains"].encode() not in body:
                continue
            if rule["count"] > 0 and rule["operation"] in ("*", operation):
                rule["count"] -= 1
                STATE["injected"][rule["fault"]] = STATE["injected"].get(rule["fault"], 0) + 1
                if rule["fault"] == "hold":
                    STATE["held"] += 1
                    return rule["fault"], RELEASE
                return rule["fault"], None
        STATE["passed"] += 1
        return None, None


def hold(release):
    """Waits until the held calls are released (or HOLD_SECONDS pass)."""
    try:
        release.wait(HOLD_SECONDS)
    finally:
        with LOCK:
            STATE["held"] -= 1


def release_held():
    global RELEASE
    with LOCK:
        RELEASE.set()
        RELEASE = threading.Event()


def error_body(kind, message, **extra):
    return json.dumps({"__type": PREFIX + kind, "message": message, **extra}).encode()


def upstream():
    conn = getattr(LOCAL, "conn", None)
    if conn is None:
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        LOCAL.conn = conn
    return conn


def forward(method, path, headers, body):
    """Sends the call to DynamoDB Local on this thread's connection (again on a new one
    if the kept one was closed)."""
    for attempt in (1, 2):
        conn = upstream()
        try:
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            return res.status, res.getheaders(), res.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            conn.close()
            LOCAL.conn = None
            if attempt == 2:
                raise


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/x-amz-json-1.0", headers=()):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def control(self):
        if self.command == "PUT":
            plan = json.loads(self.body() or b"[]")
            # A new plan first lets go of what an earlier one held (a test that failed
            # before releasing must not hand its held call to the next).
            release_held()
            with LOCK:
                STATE["plan"] = [dict(r, count=int(r.get("count", 1))) for r in plan]
        elif self.command == "DELETE":
            self.body()
            with LOCK:
                STATE.update(plan=[], injected={}, passed=0)
            release_held()
        elif self.command == "POST" and self.path.rstrip("/").endswith("/release"):
            self.body()
            release_held()
        with LOCK:
            answer = json.dumps(STATE).encode()
        self.reply(200, answer, "application/json")

    def do_GET(self):
        self.control()

    def do_PUT(self):
        self.control()

    def do_DELETE(self):
        self.control()

    def do_POST(self):
        if self.path.startswith("/__faults"):
            return self.control()
        body = self.body()
        target = self.headers.get("x-amz-target", "")
        operation = target.rsplit(".", 1)[-1]
        fault, release = take(operation, body)
        if fault == "hold":
            hold(release)
        if fault == "throttle":
            return self.reply(400, error_body("ThrottlingException", "Rate of requests exceeds the allowed throughput."))
        if fault == "conflict":
            try:
                items = len(json.loads(body).get("TransactItems", [])) or 1
            except ValueError:
                items = 1
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}] * items
            message = "Transaction cancelled, please refer cancellation reasons for specific reasons [" + ", ".join(["TransactionConflict"] * items) + "]"
            return self.reply(400, error_body("TransactionCanceledException", message, CancellationReasons=reasons))
        if fault == "in_progress":
            return self.reply(400, error_body("TransactionInProgressException", "Transaction is in progress"))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        with LOCK:
            STATE["in_flight"][operation] = STATE["in_flight"].get(operation, 0) + 1
        try:
            status, answer_headers, answer = forward("POST", self.path, headers, body)
        except (ConnectionError, http.client.HTTPException, OSError):
            # DynamoDB Local is down (the suite kills it): so are we, to the caller.
            self.close_connection = True
            self.connection.close()
            return
        finally:
            with LOCK:
                STATE["in_flight"][operation] -= 1
        if fault == "applied_in_progress":
            return self.reply(400, error_body("TransactionInProgressException", "Transaction is in progress"))
        kept = [(k, v) for k, v in answer_headers if k.lower() not in ("content-length", "content-type", "connection", "transfer-encoding")]
        ctype = dict((k.lower(), v) for k, v in answer_headers).get("content-type", "application/x-amz-json-1.0")
        self.reply(status, answer, ctype, kept)


def main(port, upstream_url, port_file):
    global UPSTREAM
    UPSTREAM = urllib.parse.urlparse(upstream_url)
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:4])
