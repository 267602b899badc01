"""A client workflow through the Python client that openapi-python-client generates from
the served OpenAPI document (API.md §1): what a user of the API who generates a client
meets. `make test` generates the package into $RUN_DIR and runs this against the stack.

    PYTHONPATH=<generated package dir> python tests/generated/workflow.py <base url> <admin key>

Every step asserts the parsed model (its class and fields), so a document that drifts from
the API (a wrong schema name, type, nullability or status) fails here.
"""
import sys
import uuid

from clientele_client import Client
from clientele_client.api.api_keys import create_api_key
from clientele_client.api.clients import (
    create_client, delete_client, get_client, list_clients, suspend_client, update_client,
)
from clientele_client.api.partners import create_partner
from clientele_client.models import (
    ApiKeyCreated, ClientCreated, ClientList, ClientPatch, ClientRecord, NewApiKey, NewClient,
    NewPartner, NewPartnerType, Partner, Problem, Suspend,
)
from clientele_client.models.client_record_status import ClientRecordStatus


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def main(base, admin_key):
    admin = Client(base_url=base, headers={"X-API-Key": admin_key}, raise_on_unexpected_status=True)

    made = create_partner.sync_detailed(client=admin, body=NewPartner(name=unique("gen-partner"), type_=NewPartnerType.RESELLER))
    partner = made.parsed
    check(made.status_code == 201 and isinstance(partner, Partner), "create partner: 201 and a Partner")
    check(partner.type_ == NewPartnerType.RESELLER.value or str(partner.type_) == "reseller", "the partner's type")

    perms = ["clients:view", "clients:edit", "clients:create", "clients:remove"]
    made = create_api_key.sync_detailed(client=admin, body=NewApiKey(partner_id=partner.id, permissions=perms, name="generated"))
    key = made.parsed
    check(made.status_code == 201 and isinstance(key, ApiKeyCreated) and key.key.startswith("ck_live_"), "create key: the secret once")
    check(key.permissions == perms, "the key's permissions")
    me = Client(base_url=base, headers={"X-API-Key": key.key}, raise_on_unexpected_status=True)

    email = f"{unique('gen')}@example.com"
    made = create_client.sync_detailed(client=me, body=NewClient(name=unique("gen-client"), email=email, username=unique("gen")))
    created = made.parsed
    check(made.status_code == 201 and isinstance(created, ClientCreated), "create client: 201 and a ClientCreated")
    check(created.api_key.startswith(created.api_key_prefix) and created.version == 0 and str(created.status) == "demo", "a new client: key, version 0, demo")
    check(created.direct_partner.id == partner.id and created.partner.id == partner.id, "its partners")

    got = get_client.sync_detailed(client=me, client_id=created.id)
    record = got.parsed
    check(got.status_code == 200 and isinstance(record, ClientRecord), "get client: a ClientRecord")
    check(record.email == email and record.is_active is True and record.status == ClientRecordStatus.DEMO, "its fields")
    check(record.company is None and record.trial_ends_at is None, "null members parse as None")
    check(got.headers.get("etag") == '"0"', "the ETag of version 0")

    changed = update_client.sync_detailed(client=me, client_id=created.id, body=ClientPatch(company="Acme"), if_match='"0"')
    check(changed.status_code == 200 and isinstance(changed.parsed, ClientRecord), "update with If-Match: 200")
    check(changed.parsed.company == "Acme" and changed.parsed.version == 1, "the change, at version 1")
    stale = update_client.sync_detailed(client=me, client_id=created.id, body=ClientPatch(company="Late"), if_match='"0"')
    check(stale.status_code == 412 and isinstance(stale.parsed, Problem), "a stale If-Match: 412 as a Problem")
    check(stale.parsed.error_code == "version_mismatch" and stale.parsed.status == 412, "the problem's errorCode and status")

    second = create_client.sync_detailed(client=me, body=NewClient(name=unique("gen-client"), email=f"{unique('gen')}@example.com"))
    check(second.status_code == 201, "a second client")
    page = list_clients.sync_detailed(client=me, limit=1)
    check(isinstance(page.parsed, ClientList) and page.parsed.total == 2 and len(page.parsed.data) == 1, "list: total 2, one per page")
    check(page.parsed.data[0].id == second.parsed.id and isinstance(page.parsed.next_cursor, str), "newest first, with a cursor")
    rest = list_clients.sync_detailed(client=me, limit=1, cursor=page.parsed.next_cursor)
    check(rest.parsed.data[0].id == created.id and rest.parsed.next_cursor is None, "the cursor's page, and no further")

    suspended = suspend_client.sync_detailed(client=me, client_id=created.id, body=Suspend(reason="unpaid"))
    check(suspended.parsed.suspended is True and suspended.parsed.is_active is False, "suspend")
    check(suspended.parsed.suspended_reason == "unpaid", "with its reason")

    bad = create_client.sync_detailed(client=me, body=NewClient(name=unique("x"), email="not-an-email"))
    check(bad.status_code == 400 and isinstance(bad.parsed, Problem), "a bad email: 400 as a Problem")
    check([e.field for e in bad.parsed.errors] == ["email"], "naming the field")

    gone = delete_client.sync_detailed(client=me, client_id=created.id)
    check(gone.status_code == 204, "delete: 204")
    missing = get_client.sync_detailed(client=me, client_id=created.id)
    check(missing.status_code == 404 and isinstance(missing.parsed, Problem) and missing.parsed.error_code == "not_found", "then 404 as a Problem")
    print("generated Python client: workflow passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
