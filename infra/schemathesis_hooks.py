"""Schemathesis hooks for `make test`.

The local API Gateway (cargo lambda watch) cannot pass request bodies or header
values that are not valid UTF-8 on to a function at all (it answers 500 itself,
before any of our code runs), while API Gateway on AWS hands them over
base64-encoded. Such cases test the emulator, not Clientele, so they are left out.
"""
import schemathesis


def _utf8(value):
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    return _utf8(body)


@schemathesis.hook
def filter_headers(ctx, headers):
    if not headers:
        return True
    for value in headers.values():
        if isinstance(value, str):
            try:
                value.encode("ascii")
            except UnicodeEncodeError:
                return False
    return True
