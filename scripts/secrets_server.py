#!/usr/bin/env python3
"""The local stand-in for AWS Secrets Manager: GetSecretValue only, over AWS JSON 1.1.

Usage: secrets_server.py LISTEN_PORT SECRETS_FILE PORT_FILE

The local stack's functions read their secrets as they do on AWS (shared/src/live_secrets.rs,
`AWS_ENDPOINT_URL_SECRETSMANAGER` pointing here). SECRETS_FILE holds the secrets as
{"<name>": {"<key>": "<value>", ...}, ...}, read again on every request: rewrite it to
rotate a secret (the functions take the new value at their next refresh). A name it does
not hold is a 400 `ResourceNotFoundException`, as Secrets Manager answers. The request log
names the secret asked for, never a value. LISTEN_PORT 0 takes a free port; the port is
written to PORT_FILE. It serves loopback only and stops with its process group.
"""

import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRETS_FILE = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:32])
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, kind, message):
        self.answer(status, {"__type": kind, "message": message})

    def do_POST(self):  # noqa: N802 - the http.server interface
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        if target != "secretsmanager.GetSecretValue":
            return self.error(400, "UnknownOperationException", f"{target or 'no X-Amz-Target'}: only GetSecretValue is served here")
        try:
            secret_id = json.loads(raw or b"{}")["SecretId"]
        except (ValueError, KeyError, TypeError):
            return self.error(400, "InvalidParameterException", "SecretId is required")
        with open(SECRETS_FILE) as f:
            secrets = json.load(f)
        name = secret_id.split(":secret:")[-1]
        sys.stderr.write(f"{self.log_date_time_string()} GetSecretValue {name}: {'found' if name in secrets else 'not found'}\n")
        if name not in secrets:
            return self.error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        value = json.dumps(secrets[name])
        version = hashlib.sha256(value.encode()).hexdigest()[:32]
        self.answer(200, {
            "ARN": f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-local0",
            "Name": name,
            "SecretString": value,
            "VersionId": f"{version[:8]}-{version[8:12]}-{version[12:16]}-{version[16:20]}-{version[20:32]}",
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": time.time(),
        })

    def log_message(self, fmt, *args):
        pass  # each request is logged above, by the secret it asks for


def main(port, secrets_file, port_file):
    global SECRETS_FILE
    SECRETS_FILE = secrets_file
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
