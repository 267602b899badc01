"""The fuzzing's hooks against a small local server (run by `make test` before the fuzzing).

`after_call` must send a GET that got exactly the emulator's 500 once more and leave the
checks the second answer; it must never send a write twice, nor touch any other answer;
and a second emulator 500 in a row must stay what the checks see.
"""

import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from schemathesis.core.transport import Response

import schemathesis_hooks as hooks

PAGE = json.dumps({"data": [{"id": str(i), "type": "client.updated"} for i in range(300)]}).encode()
OURS_500 = json.dumps({"type": "about:blank", "status": 500, "errorCode": "internal"}).encode()


class Server(BaseHTTPRequestHandler):
    # Per path, the answers still to give, in order: "emulator" (its own 500), "page", "ours".
    plans = {}
    seen = []

    def _answer(self):
        Server.seen.append((self.command, self.path))
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        what = Server.plans[self.path].pop(0)
        status, kind, body = {
            "emulator": (500, hooks.EMULATOR_500_TYPE, hooks.EMULATOR_500_BODY),
            "page": (200, "application/json", PAGE),
            "ours": (500, "application/problem+json", OURS_500),
        }[what]
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args):
        pass


class AfterCall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), Server)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        Server.seen.clear()

    def call(self, method, path, plan):
        Server.plans[path] = list(plan)
        answer = requests.request(method, self.base + path, data=b"{}" if method == "POST" else None, timeout=10)
        response = Response.from_requests(answer, verify=True)
        hooks.after_call(None, None, response)
        return response

    def test_a_get_the_emulator_lost_is_judged_on_its_second_answer(self):
        response = self.call("GET", "/v1/events", ["emulator", "page"])
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, PAGE)
        self.assertEqual(response.json()["data"][299]["id"], "299")
        self.assertEqual(response.headers["content-type"], ["application/json"])
        self.assertEqual(Server.seen, [("GET", "/v1/events")] * 2)

    def test_a_second_emulator_500_in_a_row_is_what_the_checks_see(self):
        response = self.call("GET", "/v1/clients", ["emulator", "emulator", "page"])
        self.assertTrue(hooks.is_emulator_500(response))
        self.assertEqual(len(Server.seen), 2)

    def test_a_write_is_never_sent_twice(self):
        response = self.call("POST", "/v1/clients", ["emulator", "page"])
        self.assertTrue(hooks.is_emulator_500(response))
        self.assertEqual(Server.seen, [("POST", "/v1/clients")])

    def test_our_own_500_is_never_sent_again(self):
        response = self.call("GET", "/v1/partners", ["ours", "page"])
        self.assertEqual(response.status_code, 500)
        self.assertEqual(response.content, OURS_500)
        self.assertEqual(len(Server.seen), 1)

    def test_only_a_non_utf8_request_may_drop_the_emulator_500(self):
        utf8 = self.call("POST", "/v1/clients", ["emulator"])
        self.assertTrue(hooks.filter_failure(None, None, None, utf8))
        latin1 = requests.Request("POST", self.base + "/v1/clients", data="{\"name\": \"\xe9\"}".encode("latin-1")).prepare()
        utf8.request = latin1
        self.assertFalse(hooks.filter_failure(None, None, None, utf8))



class Headers(unittest.TestCase):
    def test_a_drawn_authorization_beside_the_runs_key_is_dropped(self):
        headers = {"Authorization": "Bearer drawn", "Idempotency-Key": "k", "X-Other": "1"}
        hooks._one_credential(headers)
        self.assertNotIn("Authorization", headers)
        self.assertEqual(headers["X-Other"], "1")
        self.assertIsNone(hooks._one_credential(None))


if __name__ == "__main__":
    unittest.main()
