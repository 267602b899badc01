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


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props, required=None, extra=False):
    o = {"type": "object", "properties": props, "additionalProperties": extra}
    o["required"] = list(props) if required is None else required
    return o


def listing(item):
    return obj({"total": INT, "data": {"type": "array", "items": ref(item)}, "nextCursor": NS})


PERMISSION = {"type": "string", "pattern": "^(clients|licenses|webhooks|partners|keys):(view|edit|create|remove)$"}
PARTNER_REF = obj({"id": S, "name": S})
CONTACT = obj({"firstName": NS, "lastName": NS, "email": NS, "phone": NS}, required=[])
METADATA = {"type": "object", "maxProperties": 50, "additionalProperties": {"type": "string", "maxLength": 500}}
CLIENT_PERMISSIONS = {
    "type": "object",
    "maxProperties": 100,
    "additionalProperties": {"type": "array", "items": {"enum": ["view", "edit", "create", "remove"]}},
}
QUOTAS = {
    "type": "object",
    "maxProperties": 20,
    "additionalProperties": obj({"limit": INT, "period": {"enum": ["day", "month"]}}, required=["limit"]),
}
USAGE = {
    "type": "object",
    "additionalProperties": obj({"used": INT, "limit": INT, "period": {"enum": ["day", "month", None]}, "resetsAt": NTIME}),
}
EVENT_TYPES = [
    "client.created", "client.updated", "client.removed", "client.suspended", "client.unsuspended",
    "client.trial_started", "client.trial_expired", "client.made_live", "license.created",
    "license.activated", "license.deactivated", "license.revoked", "partner.created",
]

CLIENT_FIELDS = {
    "id": ID, "name": S, "email": S, "username": NS, "company": NS, "mid": NS, "billingId": NS,
    "location": NS, "contact": {"oneOf": [CONTACT, {"type": "null"}]}, "metadata": METADATA,
    "directPartner": PARTNER_REF, "partner": PARTNER_REF, "status": {"enum": ["demo", "trial", "live"]},
    "trialEndsAt": NTIME, "suspended": BOOL, "suspendedReason": NS, "isActive": BOOL,
    "permissions": CLIENT_PERMISSIONS, "quotas": QUOTAS, "licenseCount": INT, "domainCount": INT,
    "apiKeyPrefix": S, "created": TIME, "modified": TIME, "version": INT,
}
WRITABLE = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "email": {"type": "string", "format": "email", "maxLength": 254},
    "username": {"type": ["string", "null"], "pattern": "^[a-z0-9._-]{3,64}$"},
    "company": {"type": ["string", "null"], "maxLength": 200},
    "mid": {"type": ["string", "null"], "maxLength": 100},
    "billingId": {"type": ["string", "null"], "maxLength": 100},
    "location": {"type": ["string", "null"], "maxLength": 200},
    "contact": {"oneOf": [CONTACT, {"type": "null"}]},
    "metadata": {"oneOf": [METADATA, {"type": "null"}]},
}
LICENSE_FIELDS = {
    "id": ID, "product": obj({"id": ID, "name": S, "slug": S}), "tier": S, "clientId": ID,
    "status": {"enum": ["active", "expired", "revoked"]}, "expiresAt": NTIME, "maxActivations": INT,
    "activations": {"type": "array", "items": obj({"domain": S, "activatedAt": TIME})},
    "keyPrefix": S, "created": TIME, "modified": TIME,
}
WEBHOOK_FIELDS = {
    "id": ID, "partnerId": NS, "url": S, "events": {"type": "array", "items": S},
    "description": NS, "enabled": BOOL, "created": TIME, "modified": TIME,
}
API_KEY_FIELDS = {"id": ID, "name": NS, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}, "prefix": S, "created": TIME}
PRODUCT_FIELDS = {"id": ID, "name": S, "slug": S, "created": TIME}

SCHEMAS = {
    "Problem": obj(
        {
            "type": S, "title": S, "status": {"type": "integer"}, "detail": S, "errorCode": S, "requestId": S,
            "errors": {"type": "array", "items": obj({"field": S, "message": S})},
        },
        required=["type", "title", "status", "detail", "errorCode", "requestId"],
    ),
    "Partner": obj({"id": ID, "name": S, "type": {"enum": ["partner", "reseller", "agency"]}, "parentId": NS, "rootId": ID, "suspended": BOOL, "created": TIME, "modified": TIME}),
    "PartnerList": listing("Partner"),
    "NewPartner": obj({"name": WRITABLE["name"], "type": {"enum": ["partner", "reseller", "agency"]}, "parentId": ID}, required=["name"]),
    "ApiKey": obj(API_KEY_FIELDS),
    "ApiKeyCreated": obj({**API_KEY_FIELDS, "key": S}),
    "ApiKeyList": listing("ApiKey"),
    "NewApiKey": obj({"name": {"type": "string", "maxLength": 100}, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}}, required=[]),
    "Client": obj(CLIENT_FIELDS),
    "ClientCreated": obj({**CLIENT_FIELDS, "apiKey": S}),
    "ClientSummary": obj({k: CLIENT_FIELDS[k] for k in ["id", "name", "email", "username", "company", "status", "isActive", "directPartner", "partner", "licenseCount", "domainCount", "created"]} | {"actualCallCount": INT}),
    "ClientList": listing("ClientSummary"),
    "NewClient": obj(
        {**WRITABLE, "directPartner": obj({"id": ID, "name": S}, required=[]), "status": {"enum": ["demo", "live"]},
         "permissions": CLIENT_PERMISSIONS, "quotas": QUOTAS},
        required=["name", "email"],
    ),
    "ClientPatch": obj({**WRITABLE, "isActive": BOOL}, required=[]),
    "ClientReplace": obj({**WRITABLE, "isActive": BOOL}, required=["name", "email"]),
    "Lookup": obj({"apiKey": S}),
    "BulkDelete": obj({"ids": {"type": "array", "items": S, "minItems": 1, "maxItems": 100}}),
    "BulkDeleted": obj({
        "deleted": {"type": "array", "items": S},
        "notFound": {"type": "array", "items": S},
        # Ids whose delete failed (e.g. 503 while the store was unavailable): retry those.
        "failed": {"type": "array", "items": obj({"id": S, "status": INT, "errorCode": S})},
    }),
    "OfferTrial": obj({"days": {"type": "integer", "minimum": 1, "maximum": 90}}),
    "Suspend": obj({"reason": {"type": ["string", "null"], "maxLength": 500}}, required=[]),
    "Empty": obj({}, required=[]),
    "ClientPermissions": CLIENT_PERMISSIONS,
    "Quotas": QUOTAS,
    "UsageRecord": obj({"resource": S, "amount": {"type": "integer", "minimum": 1}}),
    "Usage": USAGE,
    "Teammate": obj({"id": ID, "username": S, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}, "created": TIME}),
    "NewTeammate": obj({"username": {"type": "string", "pattern": "^[a-z0-9._-]{3,64}$"}, "password": {"type": "string", "minLength": 12, "maxLength": 256}, "partnerId": ID, "permissions": {"type": "array", "items": PERMISSION}}, required=["username", "password"]),
    "Token": obj({"token": S, "expiresAt": TIME}),
    "Event": obj({"id": ID, "type": {"enum": EVENT_TYPES}, "createdAt": TIME, "partnerId": NS, "actor": obj({"kind": S, "id": S}), "requestId": S, "data": obj({"object": {"type": "object"}, "previous": {"type": "object"}}, required=["object"])}),
    "EventList": listing("Event"),
    "Product": obj(PRODUCT_FIELDS),
    "ProductList": listing("Product"),
    "NewProduct": obj({"name": WRITABLE["name"], "slug": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}}),
    "License": obj(LICENSE_FIELDS),
    "LicenseCreated": obj({**LICENSE_FIELDS, "licenseKey": S}),
    "LicenseList": listing("License"),
    "NewLicense": obj({"productId": ID, "tier": {"type": "string", "minLength": 1, "maxLength": 64}, "clientId": ID, "expiresAt": TIME, "maxActivations": {"type": "integer", "minimum": 1, "maximum": 25}}, required=["productId", "tier", "clientId"]),
    "Activation": obj({"licenseKey": S, "domain": S}),
    "Webhook": obj(WEBHOOK_FIELDS),
    "WebhookCreated": obj({**WEBHOOK_FIELDS, "secret": S}),
    "WebhookList": listing("Webhook"),
    "NewWebhook": obj({"url": {"type": "string", "format": "uri"}, "events": {"type": "array", "items": {"enum": EVENT_TYPES + ["*"]}, "minItems": 1}, "description": {"type": "string", "maxLength": 500}, "partnerId": ID}, required=["url", "events"]),
    "WebhookPatch": obj({"url": {"type": "string", "format": "uri"}, "events": {"type": "array", "items": {"enum": EVENT_TYPES + ["*"]}, "minItems": 1}, "enabled": BOOL, "description": {"type": ["string", "null"], "maxLength": 500}}, required=[]),
    "Attempt": obj({"id": ID, "eventId": ID, "eventType": S, "attempt": INT, "at": TIME, "statusCode": {"type": ["integer", "null"]}, "latencyMs": INT, "error": NS, "success": BOOL}),
    "AttemptList": listing("Attempt"),
    "Redelivered": obj({"eventId": ID, "webhooks": {"type": "array", "items": ID}}),
    "OpenApi": {"type": "object"},
}

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
    "get-client": (None, 200, "Client"),
    "update-client": ("ClientPatch", 200, "Client"),
    "replace-client": ("ClientReplace", 200, "Client"),
    "delete-client": (None, 204, None),
    "find-client-by-username": (None, 200, "Client"),
    "lookup-client": ("Lookup", 200, "Client"),
    "search-clients": (None, 200, "Client"),
    "bulk-delete-clients": ("BulkDelete", 200, "BulkDeleted"),
    "make-client-live": (None, 200, "Client"),
    "offer-client-trial": ("OfferTrial", 200, "Client"),
    "suspend-client": ("Suspend", 200, "Client"),
    "unsuspend-client": (None, 200, "Client"),
    "set-client-permissions": ("ClientPermissions", 200, "Client"),
    "set-client-quotas": ("Quotas", 200, "Client"),
    "record-client-usage": ("UsageRecord", 200, "Usage"),
    "get-client-usage": (None, 200, "Usage"),
    "rotate-client-api-key": (None, 200, "ClientCreated"),
    "create-teammate": ("NewTeammate", 201, "Teammate"),
    "issue-token": (None, 200, "Token"),
    "list-events": (None, 200, "EventList"),
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
    "redeliver-event": (None, 202, "Redelivered"),
    "get-openapi": (None, 200, "OpenApi"),
}

# Query parameters beyond paging, per list function.
FILTERS = {
    "list-clients": ["partner", "status", "suspended", "q", "email"],
    "list-api-keys": ["partnerId"],
    "list-webhooks": ["partnerId"],
    "list-events": ["type"],
    "search-clients": ["term"],
}
PAGED = {"list-partners", "list-api-keys", "list-clients", "list-events", "list-products", "list-client-licenses", "list-webhooks", "list-webhook-deliveries"}
PUBLIC = {"activate-license", "deactivate-license", "get-openapi", "issue-token"}
