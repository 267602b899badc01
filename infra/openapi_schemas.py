"""The schemas of the OpenAPI document: what each route takes and answers.

infra/routes.py combines these with infra/routes.tsv into shared/src/openapi.json.
They describe the Rust types in shared/src/domain; `make test` runs schemathesis
against the running stack, which fails on any response that does not match them.
"""

S = {"type": "string"}
NS = {"type": ["string", "null"]}
ID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
NTIME = {"type": ["string", "null"], "format": "date-time"}
INT = {"type": "integer", "minimum": 0}
BOOL = {"type": "boolean"}
# A record's integer id (API.md §3): unique, positive, exact in any JSON parser.
NUMBER = {"type": "integer", "minimum": 1, "maximum": 9007199254740991}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props, required=None, extra=False):
    o = {"type": "object", "properties": props, "additionalProperties": extra}
    o["required"] = list(props) if required is None else required
    return o


def listing(item):
    return obj({"total": INT, "data": {"type": "array", "items": ref(item)}, "nextCursor": NS})


# The characters the API refuses (API.md §5a): in names, usernames and metadata keys every
# control and format character (Cc, Cf); in free text (and metadata values) all of them but
# tab and line feed. So generated values are ones the API accepts.
_CC = "\\u0000-\\u001f\\u007f-\\u009f"
_CC_BUT_TAB_LF = "\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f"
_CF = "\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u08e2\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb"
# White space as the API trims it (Rust's char::is_whitespace), spelled out: a pattern's `\s`
# is ASCII-only in some validators (schemathesis compiles with re.ASCII), which would let a
# name made only of U+3000 through, that the API trims to nothing and refuses.
_WS = "\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# The spaces a name may have around it (trimmed): whitespace that is not a control character.
_SP = " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NAME_PATTERN = f"^[{_SP}]*[^{_WS}{_CC}{_CF}][^{_CC}{_CF}]*$"
TEXT_PATTERN = f"^[^{_CC_BUT_TAB_LF}{_CF}]*$"
NONBLANK_TEXT_PATTERN = f"^[{_WS}]*[^{_WS}{_CC}{_CF}][^{_CC_BUT_TAB_LF}{_CF}]*$"
KEY_PATTERN = f"^[^{_CC}{_CF}]*$"
# A subset of what the API accepts (local part at most 64 characters, labels at most 63).
EMAIL_PATTERN = (
    "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,40}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20})?"
    "@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,3}[A-Za-z]{2,10}$"
)


def text(n, null=True):
    return {"type": ["string", "null"] if null else "string", "maxLength": n, "pattern": TEXT_PATTERN}


PERMISSION = {"type": "string", "pattern": "^(clients|licenses|webhooks|partners|keys):(view|edit|create|remove)$"}
PERMISSIONS = {"type": "array", "items": PERMISSION, "uniqueItems": True}
NAME = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NAME_PATTERN}
EMAIL = {"type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN}
# The shapes several schemas share are components of their own (a generator makes one type of
# each, instead of one per place it appears, which collide).
PARTNER_REF = ref("PartnerRef")
CONTACT = ref("Contact")
METADATA = ref("Metadata")
CLIENT_PERMISSIONS = ref("ClientPermissions")
QUOTAS = ref("Quotas")
USAGE = ref("Usage")


# A partner named by id or by name: where a client is created, or moved to.
PARTNER_SELECTOR = {
    "type": "object", "properties": {"id": ID, "name": NAME}, "additionalProperties": False, "minProperties": 1,
    "description": "The partner, by id or by name; on PATCH/PUT, naming another partner of the caller's tree moves the client there",
}


def nullable(schema):
    return {"oneOf": [schema, {"type": "null"}]}


SHARED = {
    "PartnerRef": obj({"id": ID, "name": S}),
    "ProductRef": obj({"id": ID, "name": S, "slug": S}),
    # As answered; what a request may send is ContactInput (its email pattern is a subset of the
    # addresses the API accepts, so fuzzed values are ones it takes).
    "Contact": obj({
        "firstName": text(100), "lastName": text(100),
        "email": {"type": ["string", "null"], "format": "email", "maxLength": 254}, "phone": text(40),
    }, required=[]),
    "ContactInput": obj({
        "firstName": text(100), "lastName": text(100),
        "email": {**EMAIL, "type": ["string", "null"]}, "phone": text(40),
    }, required=[]),
    "Metadata": {
        "type": "object", "maxProperties": 50, "propertyNames": {"minLength": 1, "maxLength": 100, "pattern": KEY_PATTERN},
        "additionalProperties": {"type": "string", "maxLength": 500, "pattern": TEXT_PATTERN},
    },
    "ClientPermissions": {
        "type": "object", "maxProperties": 100, "propertyNames": {"pattern": "^[a-z0-9_.-]{1,64}$"},
        "additionalProperties": {"type": "array", "items": {"type": "string", "enum": ["view", "edit", "create", "remove"]}},
    },
    "Quota": obj({"limit": {"type": "integer", "minimum": 0, "maximum": 1000000000000}, "period": {"enum": ["day", "month"]}}, required=["limit"]),
    "Quotas": {
        "type": "object", "maxProperties": 20, "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        "additionalProperties": ref("Quota"),
    },
    "UsageOfResource": obj({"used": INT, "limit": INT, "period": {"enum": ["day", "month", None]}, "resetsAt": NTIME}),
    "Usage": {"type": "object", "additionalProperties": ref("UsageOfResource")},
}

# The pages allowed to frame a partner's console (API.md §5b): https:// origins, nothing after the host and port.
CONSOLE_ORIGINS = {
    "type": "array", "maxItems": 10,
    "items": {"type": "string", "maxLength": 300, "pattern": "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"},
    "description": "Origins (https://host[:port]; http:// for a loopback host on a local stack only) whose pages may frame "
                   "this partner's console and its tree's. Set by its parent or the platform admin.",
}

EVENT_TYPES = [
    "client.created", "client.updated", "client.removed", "client.suspended", "client.unsuspended",
    "client.trial_started", "client.trial_expired", "client.made_live", "license.created",
    "license.activated", "license.deactivated", "license.revoked", "partner.created",
    "partner.updated", "partner.suspended", "partner.unsuspended", "key.created", "key.revoked",
    "teammate.created", "teammate.updated", "teammate.removed", "webhook.secret_rotated",
    "console_link.created",
]

CLIENT_FIELDS = {
    "id": ID, "number": NUMBER, "name": S, "email": NS, "username": NS, "company": NS, "mid": NS, "billingId": NS,
    "location": NS, "contact": {"oneOf": [CONTACT, {"type": "null"}]}, "metadata": METADATA,
    "directPartner": PARTNER_REF, "partner": PARTNER_REF, "status": {"enum": ["demo", "trial", "live"]},
    "trialEndsAt": NTIME, "suspended": BOOL, "suspendedReason": NS, "isActive": BOOL,
    "permissions": CLIENT_PERMISSIONS, "quotas": QUOTAS, "licenseCount": INT, "domainCount": INT,
    "apiKeyPrefix": S, "created": TIME, "modified": TIME, "version": INT,
}
WRITABLE = {
    "name": NAME,
    "email": EMAIL,
    "username": {"type": ["string", "null"], "pattern": "^[a-z0-9._-]{3,64}$"},
    "company": text(200),
    "mid": text(100),
    "billingId": text(100),
    "location": text(200),
    "contact": {"oneOf": [ref("ContactInput"), {"type": "null"}]},
    "metadata": {"oneOf": [METADATA, {"type": "null"}]},
}
LICENSE_FIELDS = {
    "id": ID, "number": NUMBER, "product": ref("ProductRef"), "tier": S, "clientId": ID,
    "status": {"enum": ["active", "expired", "revoked"]}, "expiresAt": NTIME, "maxActivations": INT,
    "activations": {"type": "array", "items": obj({"domain": S, "activatedAt": TIME})},
    "keyPrefix": S, "created": TIME, "modified": TIME,
}
WEBHOOK_FIELDS = {
    "id": ID, "partnerId": NS, "url": S, "events": {"type": "array", "items": S},
    "description": NS, "enabled": BOOL, "created": TIME, "modified": TIME, "version": INT,
}
API_KEY_FIELDS = {"id": ID, "name": NS, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}, "prefix": S, "created": TIME}
PRODUCT_FIELDS = {"id": ID, "number": NUMBER, "name": S, "slug": S, "created": TIME}

SCHEMAS = {
    **SHARED,
    "Problem": obj(
        {
            "type": S, "title": S, "status": {"type": "integer"}, "detail": S, "errorCode": S, "requestId": S,
            "errors": {"type": "array", "items": obj({"field": S, "message": S})},
        },
        required=["type", "title", "status", "detail", "errorCode", "requestId"],
    ),
    "Partner": obj({"id": ID, "number": NUMBER, "name": S, "type": {"enum": ["partner", "reseller", "agency"]}, "parentId": NS, "rootId": ID, "suspended": BOOL, "consoleOrigins": CONSOLE_ORIGINS, "created": TIME, "modified": TIME},
                   required=["id", "number", "name", "type", "parentId", "rootId", "suspended", "created", "modified"]),
    "PartnerList": listing("Partner"),
    "NewPartner": obj({"name": WRITABLE["name"], "type": {"enum": ["partner", "reseller", "agency"]}, "parentId": ID}, required=["name"]),
    "ApiKey": obj(API_KEY_FIELDS),
    "ApiKeyCreated": obj({**API_KEY_FIELDS, "key": S}),
    "ApiKeyList": listing("ApiKey"),
    "NewApiKey": obj({"name": {"type": "string", "maxLength": 100}, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}}, required=[]),
    # Not "Client", nor titled so: generators name their HTTP client class that
    # (openapi-python-client does, and names models by title).
    "ClientRecord": obj(CLIENT_FIELDS) | {"description": "A client: one business a partner manages."},
    "ClientCreated": obj({**CLIENT_FIELDS, "apiKey": S}),
    "ClientSummary": obj({k: CLIENT_FIELDS[k] for k in ["id", "name", "email", "username", "company", "status", "isActive", "directPartner", "partner", "licenseCount", "domainCount", "created"]} | {"actualCallCount": INT}),
    "ClientList": listing("ClientSummary"),
    "NewClient": obj(
        {**WRITABLE, "directPartner": PARTNER_SELECTOR, "status": {"enum": ["demo", "live"]},
         "permissions": CLIENT_PERMISSIONS, "quotas": QUOTAS},
        required=["name", "email"],
    ),
    "ClientPatch": obj({**WRITABLE, "isActive": BOOL, "directPartner": PARTNER_SELECTOR}, required=[]),
    "ClientReplace": obj({**WRITABLE, "isActive": BOOL, "directPartner": PARTNER_SELECTOR}, required=["name", "email"]),
    # The hosting API (seed 003): each client whole, with its usage and activated domains.
    "HostingClient": obj({**CLIENT_FIELDS, "actualCallCount": INT, "domainCountData": {"type": "array", "items": S}}),
    "HostingClientList": {"type": "array", "items": ref("HostingClient")},
    # The partner API (seed 001): integer ids (each record's `number`), its own error body.
    "PartnerApiError": obj({"uuid": S, "errorCode": {"type": "integer", "minimum": 7400, "maximum": 7599}, "message": S}),
    "PartnerApiClientId": obj({"id": NUMBER}),
    "PartnerApiNewClient": obj({
        "name": NAME, "isActive": BOOL,
        "directPartner": {"type": "object", "properties": {"id": NUMBER, "name": NAME}, "additionalProperties": False, "minProperties": 1},
        "contact": obj({"id": NUMBER, "firstName": text(100), "lastName": text(100), "email": {**EMAIL, "type": ["string", "null"]}}, required=[]),
        "mid": text(100), "billingId": text(100), "location": {"oneOf": [{"type": "integer", "minimum": 0}, text(200)], "description": "A location id (the seed's integer), or text as /v1 writes it"},
        "email": EMAIL,
    }, required=["name"]),
    "PartnerApiPatch": obj({
        "name": NAME, "isActive": BOOL,
        "directPartner": {"type": "object", "properties": {"id": NUMBER, "name": NAME}, "additionalProperties": False, "minProperties": 1},
        "contact": obj({"id": NUMBER, "firstName": text(100), "lastName": text(100), "email": {**EMAIL, "type": ["string", "null"]}}, required=[]),
        "mid": text(100), "billingId": text(100), "location": {"oneOf": [{"type": "integer", "minimum": 0}, text(200)], "description": "A location id (the seed's integer), or text as /v1 writes it"},
    }, required=[]),
    "PartnerApiSummary": obj({
        "id": NUMBER, "name": S, "mid": NS, "isActive": BOOL, "version": INT,
        "partner": obj({"id": INT, "name": S}), "directPartner": obj({"id": INT, "name": S}),
        "contact": obj({"id": {"type": ["integer", "null"]}}), "billingId": NS,
    }),
    "PartnerApiClientList": obj({"total": INT, "data": {"type": "array", "items": ref("PartnerApiSummary")}}),
    "PartnerApiClient": obj({
        "id": NUMBER, "name": S, "mid": NS, "isActive": BOOL, "version": INT,
        "partner": obj({"id": INT, "name": S}), "directPartner": obj({"id": INT, "name": S}),
        "contact": obj({"id": {"type": ["integer", "null"]}, "firstName": NS, "lastName": NS, "email": NS}), "billingId": NS,
        "created": TIME, "modified": TIME, "location": {"type": ["integer", "string", "null"]},
    }),
    # The reseller portal (seed 002): snake_case, integer ids (each record's `number`).
    "PortalClient": obj({"id": NUMBER, "email": NS, "name": S, "company": NS, "license_count": INT}),
    "PortalClientList": {"type": "array", "items": ref("PortalClient")},
    "NewPortalClient": obj({"email": EMAIL, "name": NAME, "company": text(200)}, required=["email", "name"]),
    "PortalLicense": obj({
        "id": NUMBER, "license_key": S, "product": obj({"id": NUMBER, "name": S, "slug": S}), "tier": S,
        "status": {"enum": ["active", "expired", "revoked"]}, "expires_at": NTIME,
        "activations": {"type": "array", "items": obj({"domain": S, "activated_at": TIME})},
    }),
    "PortalLicenseList": {"type": "array", "items": ref("PortalLicense")},
    "NewPortalLicense": obj({
        "product_id": NUMBER, "tier": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NONBLANK_TEXT_PATTERN}, "customer_id": NUMBER,
        "expires_at": TIME | {"description": "Must be in the future"}, "max_activations": {"type": "integer", "minimum": 1, "maximum": 25},
    }, required=["product_id", "tier", "customer_id"]),
    "Lookup": obj({"apiKey": S}),
    "BulkDelete": obj({"ids": {"type": "array", "items": S, "minItems": 1, "maxItems": 100}}),
    "BulkDeleted": obj({
        "deleted": {"type": "array", "items": S},
        "notFound": {"type": "array", "items": S},
        # Ids whose delete failed (e.g. 503 while the store was unavailable): retry those.
        "failed": {"type": "array", "items": obj({"id": S, "status": INT, "errorCode": S})},
    }),
    "OfferTrial": obj({"days": {"type": "integer", "minimum": 1, "maximum": 90}}),
    "Suspend": obj({"reason": text(500)}, required=[]),
    "Empty": obj({}, required=[]),
    "UsageRecord": obj({"resource": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$", "description": "A resource the client has a quota on"}, "amount": {"type": "integer", "minimum": 1, "maximum": 1000000000}}),
    "Teammate": obj({"id": ID, "username": S, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}, "created": TIME, "modified": TIME, "version": INT}),
    "TeammateList": listing("Teammate"),
    "TeammatePatch": obj({
        "password": {"type": "string", "minLength": 12, "maxLength": 256, "pattern": TEXT_PATTERN, "description": "In Unicode NFC (12-256 characters once normalized); no control or format character but tab and line feed"},
        "permissions": {"type": "array", "items": PERMISSION},
        "currentPassword": {"type": "string", "maxLength": 256, "description": "Required when a teammate changes its own password, refused otherwise"},
    }, required=[]),
    "PartnerPatch": obj({"name": WRITABLE["name"], "type": {"enum": ["partner", "reseller", "agency"]}, "consoleOrigins": CONSOLE_ORIGINS}, required=[]),
    "NewTeammate": obj({"username": {"type": "string", "pattern": "^[a-z0-9._-]{3,64}$"}, "password": {"type": "string", "minLength": 12, "maxLength": 256, "pattern": TEXT_PATTERN, "description": "In Unicode NFC (12-256 characters once normalized); no control or format character but tab and line feed"}, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}}, required=["username", "password"]),
    "Token": obj({"token": S, "expiresAt": TIME}),
    "Event": obj({"id": ID, "type": {"enum": EVENT_TYPES}, "createdAt": TIME, "partnerId": NS, "actor": obj({"kind": S, "id": S}), "requestId": S, "data": obj({"object": {"type": "object"}, "previous": {"type": "object"}}, required=["object"]),
                  "test": {"type": "boolean", "description": "Present, and true, on a test event (POST /v1/webhooks/{webhookId}/test): a sample, changing nothing"}},
                 required=["id", "type", "createdAt", "partnerId", "actor", "requestId", "data"]),
    "EventList": listing("Event"),
    "EventCatalogEntry": obj(
        {
            "type": {"enum": EVENT_TYPES},
            "description": S,
            "schema": {"type": "object", "description": "The JSON Schema (2020-12) of the event's data.object"},
            "example": {"type": "object", "description": "A whole event of this type as a webhook receives it, made from sample records"},
        },
        extra=False,
    ),
    "EventCatalog": listing("EventCatalogEntry"),
    "Product": obj(PRODUCT_FIELDS),
    "ProductList": listing("Product"),
    "NewProduct": obj({"name": WRITABLE["name"], "slug": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}}),
    "License": obj(LICENSE_FIELDS),
    "LicenseCreated": obj({**LICENSE_FIELDS, "licenseKey": S}),
    "LicenseList": listing("License"),
    "NewLicense": obj({"productId": ID, "tier": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NONBLANK_TEXT_PATTERN}, "clientId": ID, "expiresAt": TIME | {"description": "Must be in the future"}, "maxActivations": {"type": "integer", "minimum": 1, "maximum": 25}}, required=["productId", "tier", "clientId"]),
    "Activation": obj({
        "licenseKey": {"type": "string", "minLength": 1, "maxLength": 200},
        "domain": {"type": "string", "maxLength": 253, "pattern": "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"},
    }),
    "Webhook": obj(WEBHOOK_FIELDS),
    "WebhookCreated": obj({**WEBHOOK_FIELDS, "secret": S}),
    "WebhookList": listing("Webhook"),
    "NewWebhook": obj({"url": {"type": "string", "format": "uri", "maxLength": 2048, "pattern": "^https?://[^\\s/?#@]+(/[^\\s]*)?$"}, "events": {"type": "array", "items": {"enum": EVENT_TYPES + ["*"]}, "minItems": 1, "description": "[\"*\"] (every type) alone, or event types; never both"}, "description": text(500, null=False), "partnerId": ID}, required=["url", "events"]),
    "WebhookPatch": obj({"url": {"type": "string", "format": "uri", "maxLength": 2048, "pattern": "^https?://[^\\s/?#@]+(/[^\\s]*)?$"}, "events": {"type": "array", "items": {"enum": EVENT_TYPES + ["*"]}, "minItems": 1, "description": "[\"*\"] (every type) alone, or event types; never both"}, "enabled": BOOL, "description": text(500)}, required=[]),
    "Attempt": obj({"id": ID, "eventId": ID, "eventType": S, "attempt": INT, "at": TIME, "statusCode": {"type": ["integer", "null"]}, "latencyMs": INT, "error": NS, "success": BOOL,
                    "test": {"type": "boolean", "description": "Present, and true, on an attempt of a test event (which cannot be redelivered)"}},
                   required=["id", "eventId", "eventType", "attempt", "at", "statusCode", "latencyMs", "error", "success"]),
    "AttemptList": listing("Attempt"),
    "AttemptDetail": obj({"id": ID, "eventId": ID, "eventType": S, "attempt": INT, "at": TIME, "statusCode": {"type": ["integer", "null"]}, "latencyMs": INT, "error": NS, "success": BOOL,
                          "test": BOOL,
                          "request": {"type": ["object", "null"], "description": "What the attempt sent (null when it was refused before sending)",
                                      "properties": {"url": S, "headers": {"type": "object", "additionalProperties": S}, "body": {**NS, "description": "The body, byte for byte (null once a test event is gone)"}},
                                      "required": ["url", "headers", "body"], "additionalProperties": False}},
                         required=["id", "eventId", "eventType", "attempt", "at", "statusCode", "latencyMs", "error", "success", "request"]),
    "Redelivered": obj({"eventId": ID, "webhooks": {"type": "array", "items": ID}}),
    "TestEvent": obj({"type": {"enum": EVENT_TYPES, "description": "The type of the sample event (default client.updated)"}}, required=[]),
    "TestEventSent": obj({"eventId": ID}),
    "NewConsoleLink": obj({
        "partnerId": {**ID, "description": "A partner of the caller's tree (default: the caller's own; required for the admin)"},
        "permissions": {**PERMISSIONS, "description": "No wider than the caller's (default: the caller's)"},
        "expiresIn": {"type": "integer", "minimum": 30, "maximum": 3600, "description": "Seconds the link may wait to be used (default 300)"},
    }, required=[]),
    "ConsoleLinkCreated": obj({"id": ID, "url": {"type": "string", "format": "uri", "description": "The console, for an iframe; the link's token is in its fragment, shown once"}, "expiresAt": TIME}),
    "ConsoleLinkExchange": obj({"token": {"type": "string", "minLength": 1, "maxLength": 200}}),
    "ConsoleSession": obj({"token": {**S, "description": "A bearer token for the session"}, "expiresAt": TIME, "partnerId": ID, "partnerName": S,
                           "permissions": {"type": "array", "items": PERMISSION}}),
    "ConsoleLink": obj({"id": ID, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}, "expiresAt": TIME, "created": TIME})
    | {"description": "A console link as its event tells it: never its token."},
    "OpenApi": {"type": "object"},
}

# Operations whose body may be left out (`{}` then).
OPTIONAL_BODY = {"send-test-event"}

# function -> (request schema or None, success status, response schema or None)
OPERATIONS = {
    "create-partner": ("NewPartner", 201, "Partner"),
    "list-partners": (None, 200, "PartnerList"),
    "get-partner": (None, 200, "Partner"),
    "suspend-partner": (None, 200, "Partner"),
    "unsuspend-partner": (None, 200, "Partner"),
    "create-api-key": ("NewApiKey", 201, "ApiKeyCreated"),
    "list-api-keys": (None, 200, "ApiKeyList"),
    "revoke-api-key": (None, 204, None),
    "create-client": ("NewClient", 201, "ClientCreated"),
    "list-clients": (None, 200, "ClientList"),
    "get-client": (None, 200, "ClientRecord"),
    "update-client": ("ClientPatch", 200, "ClientRecord"),
    "replace-client": ("ClientReplace", 200, "ClientRecord"),
    "delete-client": (None, 204, None),
    "find-client-by-username": (None, 200, "ClientRecord"),
    "lookup-client": ("Lookup", 200, "ClientRecord"),
    "search-clients": (None, 200, "ClientRecord"),
    "bulk-delete-clients": ("BulkDelete", 200, "BulkDeleted"),
    "make-client-live": (None, 200, "ClientRecord"),
    "offer-client-trial": ("OfferTrial", 200, "ClientRecord"),
    "suspend-client": ("Suspend", 200, "ClientRecord"),
    "unsuspend-client": (None, 200, "ClientRecord"),
    "set-client-permissions": ("ClientPermissions", 200, "ClientRecord"),
    "set-client-quotas": ("Quotas", 200, "ClientRecord"),
    "record-client-usage": ("UsageRecord", 200, "Usage"),
    "get-client-usage": (None, 200, "Usage"),
    "rotate-client-api-key": (None, 200, "ClientCreated"),
    "create-teammate": ("NewTeammate", 201, "Teammate"),
    "list-teammates": (None, 200, "TeammateList"),
    "update-teammate": ("TeammatePatch", 200, "Teammate"),
    "remove-teammate": (None, 204, None),
    "update-partner": ("PartnerPatch", 200, "Partner"),
    "rotate-webhook-secret": (None, 200, "WebhookCreated"),
    "issue-token": (None, 200, "Token"),
    "list-events": (None, 200, "EventList"),
    "list-event-types": (None, 200, "EventCatalog"),
    "create-product": ("NewProduct", 201, "Product"),
    "list-products": (None, 200, "ProductList"),
    "create-license": ("NewLicense", 201, "LicenseCreated"),
    "list-client-licenses": (None, 200, "LicenseList"),
    "get-license": (None, 200, "License"),
    "revoke-license": (None, 200, "License"),
    "activate-license": ("Activation", 200, "License"),
    "deactivate-license": ("Activation", 200, "License"),
    "create-webhook": ("NewWebhook", 201, "WebhookCreated"),
    "list-webhooks": (None, 200, "WebhookList"),
    "get-webhook": (None, 200, "Webhook"),
    "update-webhook": ("WebhookPatch", 200, "Webhook"),
    "delete-webhook": (None, 204, None),
    "list-webhook-deliveries": (None, 200, "AttemptList"),
    "get-webhook-delivery": (None, 200, "AttemptDetail"),
    "redeliver-event": (None, 202, "Redelivered"),
    "send-test-event": ("TestEvent", 202, "TestEventSent"),
    "create-console-link": ("NewConsoleLink", 201, "ConsoleLinkCreated"),
    "exchange-console-link": ("ConsoleLinkExchange", 200, "ConsoleSession"),
    "get-openapi": (None, 200, "OpenApi"),
}

# The seed dialects' own shapes, where they differ from /v1's: (function, dialect) ->
# (request schema or None, success status, response schema or None).
DIALECT_OPERATIONS = {
    ("list-clients", "hosting"): (None, 200, "HostingClientList"),
    ("lookup-client", "hosting"): (None, 200, "ClientRecord"),
    ("create-client", "partner-api"): ("PartnerApiNewClient", 201, "PartnerApiClientId"),
    ("list-clients", "partner-api"): (None, 200, "PartnerApiClientList"),
    ("get-client", "partner-api"): (None, 200, "PartnerApiClient"),
    ("update-client", "partner-api"): ("PartnerApiPatch", 200, "PartnerApiClientId"),
    ("delete-client", "partner-api"): (None, 200, None),
    ("list-clients", "portal"): (None, 200, "PortalClientList"),
    ("create-client", "portal"): ("NewPortalClient", 201, "PortalClient"),
    ("delete-client", "portal"): (None, 204, None),
    ("list-client-licenses", "portal"): (None, 200, "PortalLicenseList"),
    ("create-license", "portal"): ("NewPortalLicense", 201, "PortalLicense"),
}
DIALECT_FILTERS = {
    ("list-clients", "partner-api"): ["partner"],("search-clients", "hosting"): [], ("list-clients", "hosting"): [], ("list-clients", "portal"): []}
DIALECT_DEPRECATED = {("search-clients", "hosting")}
DIALECT_NOTES = {
    ("list-clients", "hosting"): (
        "Every client of the caller's tree in one array, newest first, read page by page inside. "
        "A tree of more than 1000 clients answers 400 (field `clients`): page through GET /v1/clients with its cursor instead, "
        "so that the answer stays within the 10 s limit."
    ),
    ("lookup-client", "hosting"): (
        "The seed puts the client's API key in the URL; Clientele logs this route without it. "
        "Prefer POST /v1/clients/lookup, which takes the key in the body."
    ),
    ("create-client", "partner-api"): (
        "`directPartner` names the owning partner by its integer id or its name (left out: the caller's own partner). "
        "This seed has no email: one may be given; a client made without one has none. `contact.id` is the caller's own reference, "
        "kept and shown back; `isActive: false` creates the client suspended. Authentication: Basic (teammates) or X-API-Key. "
        "Errors here are `{ uuid, errorCode, message }` with errorCode 7000 + the HTTP status."
    ),
    ("list-clients", "partner-api"): "`partner` (a partner's integer id or name) is required: that partner's whole subtree, newest first, paged with take (1-100, default 10) and skip (at most 10 000).",
    ("update-client", "partner-api"): "Any create field; only those given change. `directPartner` naming another partner of the caller's tree moves the client there.",
    ("list-clients", "portal"): (
        "All of the caller's sub-clients in one array, read page by page inside. A tree of more than 1000 clients "
        "answers 400 (field `clients`): page through GET /v1/clients with its cursor instead, so that the answer "
        "stays within the 10 s limit. Every portal route serves reseller and agency partners only (403 otherwise)."
    ),
    ("create-client", "portal"): "An email already in use anywhere is a 400 naming `email`, as in the seed.",
    ("delete-client", "portal"): "Deletes the sub-client and revokes all its licenses, releasing every activated domain.",
    ("list-client-licenses", "portal"): "Every license of the sub-client; `license_key` is the key's prefix and `...` (never stored whole).",
    ("create-license", "portal"): "`product_id` and `customer_id` are the integer ids of a product and of one of your clients; the whole `license_key` is shown this once.",
    ("search-clients", "hosting"): (
        "Deprecated, as in its seed: answers with `Deprecation: true` and a `Link` to its successor, "
        "GET /v1/clients/search (rel=\"successor-version\")."
    ),
}

# Query parameters beyond paging, per list function.
FILTERS = {
    "list-clients": ["partner", "status", "suspended", "q", "email"],
    "list-api-keys": ["partnerId"],
    "list-teammates": ["partnerId"],
    "list-webhooks": ["partnerId"],
    "list-events": ["type", "clientId"],
    "search-clients": ["term"],
}
PAGED = {"list-event-types", "list-partners", "list-api-keys", "list-teammates", "list-clients", "list-events", "list-products", "list-client-licenses", "list-webhooks", "list-webhook-deliveries"}
PUBLIC = {"activate-license", "deactivate-license", "get-openapi", "issue-token", "exchange-console-link"}

# Path parameters that are not ids (ids are `format: uuid`).
PATH_PARAMS = {
    "client_id": NUMBER,
    "username": {"type": "string", "pattern": "^[a-z0-9._-]{3,64}$"},
    "apiKey": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
    "searchTerm": {"type": "string", "minLength": 1, "maxLength": 254, "pattern": "^[!-~]+$", "description": "An exact username or email"},
}
# Routes without a path parameter that still answer 404 (a named partner or client outside the tree).
NOT_FOUND = {"create-console-link", "list-events", "create-client", "list-clients", "create-api-key", "list-api-keys", "create-teammate", "list-teammates",
             "create-license", "create-webhook", "list-webhooks", "create-partner", "lookup-client", "search-clients"}
# Non-POST routes that can answer 409 (a name, email or username in use, a move's name taken).
CONFLICTS = {"update-client", "replace-client", "update-partner"}
# Filters a route cannot do without: (function, dialect or None) -> names.
REQUIRED_FILTERS = {("search-clients", None): ("term",), ("list-clients", "partner-api"): ("partner",)}
# Query filters, typed as the API checks them.
FILTER_SCHEMAS = {
    "status": {"type": "string", "enum": ["demo", "trial", "live"]},
    "suspended": {"type": "string", "enum": ["true", "false"]},
    "q": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": f"[^{_WS}]"},
    "email": {"type": "string", "format": "email", "maxLength": 254},
    # An id, a number or a name: no control or format characters (the API refuses them, 400).
    "partner": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NAME_PATTERN, "description": "A partner's id or name: its whole subtree"},
    "partnerId": ID,
    "clientId": {**ID, "description": "The events about this client (its own and its licenses'); not with type"},
    "type": {"type": "string", "enum": EVENT_TYPES},
    "term": {"type": "string", "minLength": 1, "maxLength": 254, "pattern": f"[^{_WS}]", "description": "An exact username or email"},
}
