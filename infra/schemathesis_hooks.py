"""Schemathesis hooks for `make test` (scripts/stack.sh test).

Schemathesis's own exit status decides the run. These hooks add three things.

The one exclusion. The local API Gateway (cargo lambda watch) cannot pass a
request body or header value that is not valid UTF-8 on to a function at all: it
answers a 500 of its own before any of our code runs (API Gateway on AWS hands such
bodies over base64-encoded). `filter_failure` drops a failure only when it is
exactly that answer to exactly such a request: status 500, the emulator's body
`EMULATOR_500_BODY`, content type `EMULATOR_500_TYPE` (never our problem+json, which
every 5xx of Clientele's carries), and a request with a non-UTF-8 body or header.
Any other 5xx, and any other failure, still fails the run.

The emulator's lost answers. It can also lose an answer over about 8 KB
(docs/EMULATOR.md section 1). `after_call` sends a GET that got exactly its 500 once
more and the checks judge the second answer, as the end-to-end helpers do; a write is
never sent twice.

Foreign ids. With `FUZZ_FOREIGN_IDS` naming a JSON object `{param: id}` (another
tenant's ids), every path parameter of that name is replaced by the other tenant's
id, and the check `foreign_ids_are_not_found` requires 404 `not_found` for those
requests: a tenant sees nothing of another. The only other answers allowed are the
ones about the request's own shape, judged before any id is looked up and the same
for an id that does not exist (400 `validation_failed`/`malformed_json`, 413, 415,
and 412 for an `If-Match` that names no version at all).
"""

import json
import re
import uuid
import os
import urllib.parse
from datetime import datetime, timedelta, timezone

import schemathesis
from schemathesis import GenerationMode

# What cargo lambda watch answers itself when it cannot hand a request to a function.
EMULATOR_500_STATUS = 500
EMULATOR_500_BODY = b'{"type":"https://httpstatuses.com/500","status":500,"title":"Internal Server Error"}'
EMULATOR_500_TYPE = "text/plain; charset=utf-8"

_FOREIGN = None
if os.environ.get("FUZZ_FOREIGN_IDS"):
    with open(os.environ["FUZZ_FOREIGN_IDS"]) as f:
        _FOREIGN = json.load(f)

SHAPE_ERRORS = {
    400: {"validation_failed", "malformed_json"},
    413: {"payload_too_large"},
    415: {"unsupported_media_type"},
}


def _not_utf8(value):
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        # requests sends str header values as latin-1: anything beyond ASCII is not UTF-8 on the wire.
        return any(ord(c) > 127 for c in value)
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return True
    return False


def _request_not_utf8(request):
    if request is None:
        return False
    if _not_utf8(request.body):
        return True
    return any(_not_utf8(v) for v in (request.headers or {}).values())


def _plain_version(request):
    """Whether the request's If-Match is one plain ETag of ours (`"<version>"`)."""
    value = (getattr(request, "headers", None) or {}).get("If-Match")
    if value is None:
        return True
    value = value.strip()
    return len(value) > 2 and value[0] == value[-1] == '"' and value[1:-1].isdigit()


def is_emulator_500(response):
    """The emulator's own 500, named precisely: status, body and content type."""
    if response.status_code != EMULATOR_500_STATUS:
        return False
    content_type = response.headers.get("content-type") or response.headers.get("Content-Type")
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else None
    return response.content == EMULATOR_500_BODY and content_type == EMULATOR_500_TYPE


def _resent(response):
    """The same request sent once more, as a fresh schemathesis Response."""
    import requests
    from schemathesis.core.transport import Response

    with requests.Session() as session:
        again = session.send(response.request.copy(), timeout=30, verify=response.verify, allow_redirects=False)
    return Response.from_requests(again, verify=response.verify)


# What `after_call` replaces of a lost answer: every field of the response but the request.
_ANSWER_FIELDS = ("status_code", "headers", "content", "content_size", "elapsed", "message",
                  "http_version", "encoding", "stream_cut_short")


@schemathesis.hook
def after_call(ctx, case, response):
    """A GET answered exactly the emulator's 500 is sent once more, and the checks judge the
    second answer, as the end-to-end helpers do (docs/EMULATOR.md section 1: the emulator can
    lose any answer over about 8 KB, such as a page of events). A GET changes nothing, so
    sending it twice hides nothing; a write is never sent again, and a second emulator 500
    in a row is what the checks see (and fail on)."""
    request = getattr(response, "request", None)
    if request is None or request.method != "GET" or not is_emulator_500(response):
        return
    fresh = _resent(response)
    for field in _ANSWER_FIELDS:
        setattr(response, field, getattr(fresh, field))
    # The response caches its parsed body and its base64 form; both were of the lost answer.
    response._deserialized = fresh._deserialized
    response._encoded_body = None


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    # Keep (True) every failure except the emulator's own 500 for a non-UTF-8 request.
    if response is None or not is_emulator_500(response):
        return True
    return not _request_not_utf8(response.request)


if _FOREIGN:

    @schemathesis.hook
    def map_path_parameters(ctx, path_parameters):
        if not path_parameters:
            return path_parameters
        return {k: _FOREIGN.get(k, v) for k, v in path_parameters.items()}

    @schemathesis.check
    def foreign_ids_are_not_found(ctx, response, case):
        params = case.path_parameters or {}
        # (A value may reach the case percent-encoded.)
        foreign = {k: v for k, v in params.items() if _FOREIGN.get(k) in (v, urllib.parse.unquote(str(v)))}
        if not foreign:
            return None
        # Which foreign ids a request carried: the run checks afterwards that each was
        # (FUZZ_FOREIGN_SEEN), so a pass that never put one in a path cannot pass.
        if os.environ.get("FUZZ_FOREIGN_SEEN"):
            with open(os.environ["FUZZ_FOREIGN_SEEN"], "a") as seen:
                seen.write("".join(f"{name}\n" for name in foreign))
        status = response.status_code
        try:
            code = json.loads(response.content or b"null").get("errorCode")
        except (ValueError, AttributeError):
            code = None
        # Seed 001 (the partner API) answers in its own shape: errorCode 7000 + the status.
        if case.path.startswith("/api/v1/") and code == 7000 + status:
            code = {404: "not_found", 400: "validation_failed", 412: "version_mismatch", 413: "payload_too_large", 415: "unsupported_media_type"}.get(status, code)
        if status == 404 and code == "not_found":
            return None
        if code in SHAPE_ERRORS.get(status, ()):
            return None
        if status == 412 and code == "version_mismatch" and not _plain_version(response.request):
            # An If-Match that names no version at all is refused before any lookup.
            return None
        raise AssertionError(
            f"another tenant's {', '.join(foreign)} answered {status} {code or ''}: only 404 not_found may come back"
        )


def _fresh_key(headers):
    key = (headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and re.fullmatch(r"[!-~]{1,200}", key):
        headers["Idempotency-Key"] = f"{key}-{uuid.uuid4().hex}"
    return headers


def _one_credential(headers):
    """The run's credential is its API key (`-H X-API-Key`); an `Authorization` the fuzzer
    draws from the document's other security schemes beside it would make every request
    401 by design (API.md §1: one credential a request), and hide what it is judged on."""
    if headers:
        for name in [n for n in headers if n.lower() == "authorization"]:
            del headers[name]
    return headers


@schemathesis.hook
def map_headers(ctx, headers):
    """A fresh Idempotency-Key for each generated request, as a client makes one. The fuzzer
    draws keys from a small space, so it would reuse one with another request, which is a 422
    by design (API.md §1) and would hide what the request itself is judged on. Keys that are
    invalid on purpose (negative cases) are left as drawn. And one credential: the run's key."""
    return _one_credential(_fresh_key(headers))


# The platform admin names the partner a client, key or teammate is for (API.md §2, §3:
# "admin must give it"); OpenAPI cannot require a field of one caller only, so the admin's
# pass gives the fuzz partner where the body leaves it out.
_PARTNER = os.environ.get("FUZZ_PARTNER_ID")
# The partner API (seed 001) names partners by their integer id (`number`).
_PARTNER_NUMBER = os.environ.get("FUZZ_PARTNER_NUMBER")
_NAMES_A_PARTNER = {"/v1/clients": "directPartner", "/v2/clients/create": "directPartner", "/hosting/api/client": "directPartner",
                    "/api/v1/clients": "directPartner", "/v1/api-keys": "partnerId", "/v1/teammates": "partnerId"}
# The lists the admin must name a partner for (400 `partnerId` otherwise), in the query.
_LISTS_A_PARTNER = {"/v1/api-keys", "/v1/teammates"}


def _future(value):
    """An expiry in the past made one in the future: the API takes only those ("must be
    in the future"), which no schema can state."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return value
    if t.tzinfo is None or t > datetime.now(timezone.utc) + timedelta(minutes=5):
        return value
    return (datetime.now(timezone.utc) + timedelta(days=365)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A webhook URL the API would take, pointed at this machine (port 9: nothing listens), as
# the local stack delivers webhooks nowhere else (WEBHOOK_LOOPBACK_ONLY): a fuzzer's
# random hosts would otherwise be 400s, and never traffic off the machine either way.
_URL = re.compile(r"^(https?)://[^\s/?#@]+(/[^\s]*)?$")


def _fit_body(case):
    body = case.body
    if not isinstance(body, dict):
        return
    url = body.get("url")
    if case.operation.path.startswith("/v1/webhooks") and isinstance(url, str):
        m = _URL.match(url)
        if m:
            body["url"] = f"{m.group(1)}://127.0.0.1:9{m.group(2) or '/'}"
    for name in ("expiresAt", "expires_at"):
        if isinstance(body.get(name), str):
            body[name] = _future(body[name])
    field = _NAMES_A_PARTNER.get(case.operation.path)
    if _PARTNER and field and case.operation.method.upper() == "POST" and field not in body:
        if field != "directPartner":
            body[field] = _PARTNER
        elif case.operation.path.startswith("/api/v1/") and _PARTNER_NUMBER:
            body[field] = {"id": int(_PARTNER_NUMBER)}
        else:
            body[field] = {"id": _PARTNER}
    # Seed 002 answers an email in use anywhere with a 400 naming `email` (not a 409), and the
    # coverage phase sends the same few addresses to every create: each gets one of its own.
    email = body.get("email")
    if case.operation.path == "/api/v1/portal/clients" and _positive(case) and isinstance(email, str) and email.count("@") == 1:
        local, domain = email.split("@")
        body["email"] = f"{local[:55]}-{uuid.uuid4().hex[:8]}@{domain}"


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _fit_if_match(case):
    """A positive case's If-Match is `*` (any version). The fuzzer cannot know a client's
    current version, so a version it draws is a 412 for a client that exists; and the
    coverage phase draws no header value from a pattern needing a character other than a
    letter or digit (IF_MATCH needs `*` or `"`), so it sends `If-Match: ""`, a 412 before
    any lookup. Negative cases keep what they drew."""
    headers = case.headers
    if headers and "If-Match" in headers and _positive(case):
        headers["If-Match"] = "*"


def _fit_query(case):
    """The admin names the partner whose keys or teammates it lists (400 `partnerId` otherwise)."""
    if _PARTNER and case.operation.method.upper() == "GET" and case.operation.path in _LISTS_A_PARTNER:
        query = case.query if isinstance(case.query, dict) else {}
        if "partnerId" not in query:
            query["partnerId"] = _PARTNER
            case.query = query


@schemathesis.hook
def map_case(ctx, case):
    """The same for the coverage phase, whose cases no `map_headers` hook sees; and the
    values no schema can constrain (an expiry in the future, the admin's partner, a fresh
    email for seed 002, a positive case's If-Match)."""
    if case.headers:
        _one_credential(_fresh_key(case.headers))
    _fit_if_match(case)
    _fit_query(case)
    _fit_body(case)
    return case
