#!/usr/bin/env python3
"""make rehearse: the arm64 bytes that `make package` built, run as Lambda would run them.

Every `target/lambda/<function>/bootstrap` is started under qemu-user (qemu-aarch64-static,
with Debian's arm64 C library as its root) against a local Lambda Runtime API served here,
with the environment a deployed function gets: the table, the Secrets Manager it reads its
secrets from (scripts/secrets_server.py; no secret is in its environment) and its own
`SECRETS` grant from Cargo.toml's metadata. Then:

1. each bootstrap answers one request (an HTTP function a request without credentials, the
   stream consumer an empty batch, the scheduled ones their schedule's event);
2. an end-to-end smoke goes through the HTTP functions, routed by infra/routes.tsv as API
   Gateway routes them: a partner, its key, a client created, read, listed, changed and
   deleted, a license activated, and a webhook endpoint that receives the events,
   delivered by the arm64 deliver-webhooks in its local stream-polling mode and verified
   by their Standard Webhooks signatures.

Any failure exits non-zero. Usage:
  rehearse.py <lambda dir> <env file> <admin key> [<package report json>]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QEMU = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"]
# What a deployed function is never given: its secrets come from Secrets Manager.
PLAINTEXT_SECRETS = {"CURSOR_SECRET", "JWT_SECRET", "WEBHOOK_KEY", "ADMIN_API_KEY_SHA256"}
# Functions that API Gateway does not call, with the event their trigger sends.
NOT_HTTP = {
    "deliver-webhooks": {"Records": []},
    "retry-webhooks": {"version": "0", "id": "rehearse", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}},
    "expire-trials": {"version": "0", "id": "rehearse", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}},
}
INVOKE_TIMEOUT = 120  # seconds: a cold start under emulation, TLS set-up included


class Failure(Exception):
    pass


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v
    return env


class QuietServer(http.server.ThreadingHTTPServer):
    """A killed process's dropped connection is no news."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Function:
    """One bootstrap under qemu, behind its own local Runtime API."""

    def __init__(self, name: str, bootstrap: Path, env: dict[str, str], log_dir: Path):
        self.name = name
        self.pending: queue.Queue = queue.Queue()
        self.results: dict[str, tuple[str, bytes]] = {}
        self.done = threading.Condition()
        self.init_error: bytes | None = None
        self.first_next: float | None = None
        outer = self

        class Runtime(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_):
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self._reply(404)
                if outer.first_next is None:
                    outer.first_next = time.monotonic()
                request_id, event = outer.pending.get()
                self._reply(200, event, {
                    "content-type": "application/json",
                    "lambda-runtime-aws-request-id": request_id,
                    "lambda-runtime-deadline-ms": str(int(time.time() * 1000) + INVOKE_TIMEOUT * 1000),
                    "lambda-runtime-invoked-function-arn": f"arn:aws:lambda:us-east-1:000000000000:function:{outer.name}",
                    "lambda-runtime-trace-id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                m = re.search(r"/runtime/invocation/([^/]+)/(response|error)$", self.path)
                if m:
                    with outer.done:
                        outer.results[m.group(1)] = (m.group(2), body)
                        outer.done.notify_all()
                    return self._reply(202, b'{"status":"OK"}')
                if self.path.endswith("/runtime/init/error"):
                    outer.init_error = body
                    return self._reply(202, b'{"status":"OK"}')
                self._reply(404)

        self.server = QuietServer(("127.0.0.1", 0), Runtime)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        env = dict(env)
        env.update({
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        })
        self.log = open(log_dir / f"{name}.log", "wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen([*QEMU, str(bootstrap)], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def invoke(self, event: dict) -> dict | None:
        """Hands `event` over and waits for its answer (the parsed response, None for an empty one)."""
        request_id = str(uuid.uuid4())
        self.pending.put((request_id, json.dumps(event).encode()))
        deadline = time.monotonic() + INVOKE_TIMEOUT
        with self.done:
            while request_id not in self.results:
                if self.process.poll() is not None:
                    raise Failure(f"{self.name}: the process exited ({self.process.returncode}) before answering; see its log")
                if self.init_error is not None:
                    raise Failure(f"{self.name}: init error {self.init_error[:300]!r}")
                if time.monotonic() > deadline:
                    raise Failure(f"{self.name}: no answer in {INVOKE_TIMEOUT} s")
                self.done.wait(0.2)
            kind, body = self.results.pop(request_id)
        if kind == "error":
            raise Failure(f"{self.name}: the invocation failed: {body[:300]!r}")
        return json.loads(body) if body.strip() else None

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.server.shutdown()
        self.log.close()


class Gateway:
    """API Gateway's part: a request routed by infra/routes.tsv to its function's process."""

    def __init__(self, start):
        self.functions: dict[str, Function] = {}
        self.start = start
        self.routes = []
        for line in (ROOT / "infra/routes.tsv").read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            function, method, path = line.split("\t")[:3]
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            self.routes.append((method, re.compile(pattern), function, path))

    def route(self, method: str, path: str) -> tuple[str, str]:
        for m, pattern, function, template in self.routes:
            if m == method and pattern.match(path):
                return function, template
        return "route-not-found", "$default"  # the template's catch-all

    def call(self, method: str, target: str, headers: dict[str, str] | None = None, body: dict | None = None):
        path, _, query = target.partition("?")
        function, template = self.route(method, path)
        head = {k.lower(): v for k, v in (headers or {}).items()}
        if body is not None:
            head["content-type"] = "application/json"
        event = api_event(method, path, query, head, None if body is None else json.dumps(body), f"{method} {template}")
        names = re.findall(r"\{([^}]+)\}", template)
        if names:
            values = re.match("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$", path).groups()
            event["pathParameters"] = dict(zip(names, values))
        if function not in self.functions:
            self.functions[function] = self.start(function)
        out = self.functions[function].invoke(event)
        status = out["statusCode"]
        text = out.get("body") or ""
        if out.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        return status, {k.lower(): v for k, v in (out.get("headers") or {}).items()}, parsed


def api_event(method: str, path: str, query: str, headers: dict, body: str | None, route_key: str = "$default") -> dict:
    return {
        "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": query,
        "queryStringParameters": dict(urllib.parse.parse_qsl(query)) or None,
        "headers": headers, "isBase64Encoded": False, "body": body,
        "requestContext": {
            "accountId": "000000000000", "apiId": "rehearse", "domainName": "rehearse.local", "domainPrefix": "rehearse",
            "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "timeEpoch": int(time.time() * 1000),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "rehearse"},
        },
    }


class Receiver:
    """A webhook endpoint on loopback that keeps what it is sent."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        outer = self

        class Hook(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = QuietServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def verify(headers: dict, body: bytes, secret: str) -> bool:
    """The Standard Webhooks signature: v1, base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig == f"v1,{want}" for sig in headers.get("webhook-signature", "").split())


def expect(what: str, got: tuple, status: int):
    if got[0] != status:
        raise Failure(f"{what}: {got[0]} where {status} was expected: {got[2]}")
    print(f"  ok  {what}: {status}")
    return got[2]


def main() -> int:
    lambda_dir, env_file, admin = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    package = json.loads(Path(sys.argv[4]).read_text()) if len(sys.argv) > 4 and Path(sys.argv[4]).exists() else None
    log_dir = env_file.parent / "rehearse"
    log_dir.mkdir(exist_ok=True)
    base_env = {k: v for k, v in read_env(env_file).items() if k not in PLAINTEXT_SECRETS}
    base_env.update({"KEY_POLICY": "off", "RUST_LOG": "info", "PATH": "/usr/bin:/bin"})
    metadata = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["bin"]
    names = sorted(p.name for p in lambda_dir.iterdir() if (p / "bootstrap").is_file())
    expected = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").is_file())
    if names != expected:
        raise Failure(f"make package built {len(names)} functions, the workspace has {len(expected)}: "
                      f"missing {sorted(set(expected) - set(names))}")

    def env_of(name: str, extra: dict | None = None) -> dict:
        env = dict(base_env)
        env.update(metadata.get(name, {}).get("env", {}))
        env.update(extra or {})
        return env

    def start(name: str, extra: dict | None = None) -> Function:
        return Function(name, lambda_dir / name / "bootstrap", env_of(name, extra), log_dir)

    gateway = Gateway(start)
    first_route = {"route-not-found": ("GET", "/v1/no-such-route")}
    for method, _, function, template in gateway.routes:
        first_route.setdefault(function, (method, re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", template)))

    print(f"rehearse: {len(names)} arm64 bootstraps under {' '.join(QEMU)}")

    # 1. Every bootstrap starts, reads its secrets and answers.
    def probe(name: str) -> tuple[str, str, float]:
        f = start(name)
        try:
            if name in NOT_HTTP:
                f.invoke(NOT_HTTP[name])
                answer = "ok"
            else:
                if name not in first_route:
                    raise Failure(f"{name}: no route in infra/routes.tsv and no known trigger")
                method, path = first_route[name]
                out = f.invoke(api_event(method, path, "", {}, None))
                status = out["statusCode"]
                if status >= 500:
                    raise Failure(f"{name}: {method} {path} without credentials answered {status}: {out.get('body')}")
                answer = f"{method} {path} -> {status}"
            return name, answer, time.monotonic() - f.started
        finally:
            f.stop()

    failures = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(probe, n) for n in names]:
            try:
                name, answer, took = future.result()
                size = (lambda_dir / name / "bootstrap").stat().st_size
                print(f"  ok  {name:<28} {size / 1e6:5.2f} MB  {took:5.1f} s  {answer}")
            except Failure as e:
                failures.append(str(e))
                print(f"  FAIL {e}")
    if failures:
        raise Failure(f"{len(failures)} of {len(names)} bootstraps failed: see .run/rehearse/<function>.log")

    # 2. The end-to-end smoke, through the gateway's routing.
    # Each function's process starts at its first request (a cold start) and stays warm.
    gateway.start = start
    receiver = Receiver()
    poller = None
    try:
        print("rehearse: the smoke")
        admin_h = {"x-api-key": admin}
        partner = expect("create partner", gateway.call("POST", "/v1/partners", admin_h, {"name": f"Rehearsal {uuid.uuid4().hex[:8]}"}), 201)
        perms = [f"{r}:{a}" for r in ("clients", "licenses", "webhooks", "partners", "keys") for a in ("view", "edit", "create", "remove")]
        key = expect("create API key", gateway.call("POST", "/v1/api-keys", admin_h, {"partnerId": partner["id"], "permissions": perms}), 201)["key"]
        p = {"x-api-key": key}
        hook = expect("create webhook", gateway.call("POST", "/v1/webhooks", p, {"url": receiver.url, "events": ["*"]}), 201)
        suffix = uuid.uuid4().hex[:8]
        client = expect("create client", gateway.call("POST", "/v1/clients", p, {"name": f"Client {suffix}", "email": f"c{suffix}@example.com", "username": f"u{suffix}"}), 201)
        cid = client["id"]
        status, headers, read = gateway.call("GET", f"/v1/clients/{cid}", p)
        expect("read client", (status, headers, read), 200)
        listed = expect("list clients", gateway.call("GET", "/v1/clients", p), 200)
        if cid not in [c["id"] for c in listed["data"]]:
            raise Failure(f"list clients: {cid} is not in the page")
        changed = expect("change client (If-Match)", gateway.call("PATCH", f"/v1/clients/{cid}", {**p, "if-match": headers["etag"]}, {"name": f"Renamed {suffix}"}), 200)
        if changed["name"] != f"Renamed {suffix}":
            raise Failure(f"change client: the name is {changed['name']!r}")
        product = expect("create product", gateway.call("POST", "/v1/products", admin_h, {"name": f"Product {suffix}", "slug": f"p-{suffix}"}), 201)
        license = expect("create license", gateway.call("POST", "/v1/licenses", p, {"productId": product["id"], "tier": "pro", "clientId": cid}), 201)
        activated = expect("activate license", gateway.call("POST", "/v1/licenses/activate", {}, {"licenseKey": license["licenseKey"], "domain": "shop.example.com"}), 200)
        if [a["domain"] for a in activated["activations"]] != ["shop.example.com"]:
            raise Failure(f"activate license: activations {activated['activations']}")
        expect("delete client", gateway.call("DELETE", f"/v1/clients/{cid}", p), 204)
        expect("read deleted client", gateway.call("GET", f"/v1/clients/{cid}", p), 404)

        # The stream consumer, arm64 too, in its local polling mode (the stand-in for the
        # event source mapping that feeds it on AWS).
        poller = start("deliver-webhooks", {"LOCAL_STREAM_POLL": "1", "LOCAL_STREAM_CHECKPOINT": str(log_dir / "stream-checkpoint.json")})
        (log_dir / "stream-checkpoint.json").unlink(missing_ok=True)
        wanted = {"client.created", "client.updated", "license.created", "license.activated", "license.revoked", "client.removed"}
        deadline = time.monotonic() + 180
        seen: dict[str, tuple[dict, bytes]] = {}
        while time.monotonic() < deadline and not wanted <= set(seen):
            if poller.process.poll() is not None:
                raise Failure(f"deliver-webhooks (polling) exited ({poller.process.returncode}); see .run/rehearse/deliver-webhooks.log")
            for headers, body in list(receiver.received):
                seen.setdefault(json.loads(body)["type"], (headers, body))
            time.sleep(0.5)
        if not wanted <= set(seen):
            raise Failure(f"webhooks: {sorted(wanted - set(seen))} not delivered in 180 s (got {sorted(seen)})")
        for kind in sorted(wanted):
            headers, body = seen[kind]
            if not verify(headers, body, hook["secret"]):
                raise Failure(f"webhook {kind}: the signature does not verify with the endpoint's secret")
            event = json.loads(body)
            if kind.startswith("client.") and event["data"]["object"]["id"] != cid:
                raise Failure(f"webhook {kind}: about {event['data']['object'].get('id')}, not {cid}")
        print(f"  ok  webhooks delivered and verified: {', '.join(sorted(wanted))} ({len(receiver.received)} deliveries)")
    finally:
        for f in gateway.functions.values():
            f.stop()
        if poller:
            poller.stop()
        receiver.server.shutdown()

    sizes = [(lambda_dir / n / "bootstrap").stat().st_size for n in names]
    # What passed: `make deploy` compares the bytes it is about to upload with these.
    (lambda_dir / "rehearsed.json").write_text(json.dumps({
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sha256": {n: hashlib.sha256((lambda_dir / n / "bootstrap").read_bytes()).hexdigest() for n in names},
    }, indent=1) + "\n")
    print(f"rehearse: passed. {len(names)} bootstraps, {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB "
          f"(total {sum(sizes) / 1e6:.1f} MB)" + (f"; built in {package['seconds']} s ({package['profile']} profile, {package['commit']})" if package else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"rehearse: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
