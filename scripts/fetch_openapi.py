"""Saves the served OpenAPI document: `fetch_openapi.py <base url> <file>`.

Bounded (60 s a try) and asked again, up to three times, should the local emulator drop
its answer (seen: the function answered 200 and the request waited forever; and a
function's first start waiting behind another cargo build's lock for longer than a
client's default timeout)."""

import sys
import urllib.request

for attempt in range(3):
    try:
        body = urllib.request.urlopen(sys.argv[1] + "/v1/openapi.json", timeout=60).read()
        break
    except OSError as e:
        print(f"GET /v1/openapi.json: {e}; asking again", file=sys.stderr)
else:
    sys.exit("GET /v1/openapi.json: no answer in three tries")
with open(sys.argv[2], "wb") as f:
    f.write(body)
