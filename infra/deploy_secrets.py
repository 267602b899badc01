#!/usr/bin/env python3
"""Creates the deployment's secrets in AWS Secrets Manager unless they exist.

    python infra/deploy_secrets.py --name clientele [--region eu-west-1] [--key-file PATH]
    python infra/deploy_secrets.py --name clientele --new-admin-key [--key-file PATH]

Two secrets, read by the functions at cold start and every few minutes
(shared/src/live_secrets.rs), each only by the functions granted it (infra/routes.py):

- `<name>/auth`: cursorSecret, jwtSecret (random) and adminApiKeySha256, only the SHA-256
  of the platform admin's API key: the key itself goes to the key file alone (mode 0600,
  default `.deploy/<name>-admin-key`), never to the output, and is kept nowhere else;
- `<name>/webhook`: webhookKey (random), from which every endpoint's signing secret derives.

An existing secret is kept as it is; one scheduled for deletion (`delete-secret` of an
earlier `make destroy`) is restored first, since its value can no longer be read. A lost
admin key is replaced with `--new-admin-key` (`make admin-key`): a new key to the key file,
its hash into the auth secret, the rest kept; the old key stops working when the functions
next read their secrets (SECRETS_REFRESH_SECONDS, 300 s). To rotate another value, put a new
one with `aws secretsmanager put-secret-value` (same JSON keys).
"""
import argparse
import hashlib
import json
import os
import secrets
from pathlib import Path

import boto3


def exists(sm, name):
    """Whether the secret exists (restored first when it was scheduled for deletion)."""
    try:
        found = sm.describe_secret(SecretId=name)
    except sm.exceptions.ResourceNotFoundException:
        return False
    if "DeletedDate" in found:
        sm.restore_secret(SecretId=name)
        print(f"secret {name} was scheduled for deletion ({found['DeletedDate']:%Y-%m-%d}); restored it")
    return True


def new_admin_key(key_file: Path) -> str:
    """A new admin API key, written to `key_file` alone (0600); its SHA-256 hex."""
    admin_key = "ck_live_" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(admin_key + "\n")
    os.chmod(key_file, 0o600)
    print(f"platform admin API key written to {key_file} (mode 0600, nowhere else): keep it safe, then delete the file")
    return hashlib.sha256(admin_key.encode()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="clientele")
    ap.add_argument("--region", default=None)
    ap.add_argument("--key-file", default=None, help="where a new admin key is written (default .deploy/<name>-admin-key)")
    ap.add_argument("--new-admin-key", action="store_true", help="replace the admin key of an existing auth secret")
    args = ap.parse_args()
    sm = boto3.client("secretsmanager", region_name=args.region)
    auth, webhook = f"{args.name}/auth", f"{args.name}/webhook"
    key_file = Path(args.key_file or Path(__file__).resolve().parent.parent / ".deploy" / f"{args.name.replace('/', '-')}-admin-key")
    if args.new_admin_key:
        if not exists(sm, auth):
            raise SystemExit(f"no secret {auth}: `make deploy` creates it, with an admin key")
        value = json.loads(sm.get_secret_value(SecretId=auth)["SecretString"])
        value["adminApiKeySha256"] = new_admin_key(key_file)
        sm.put_secret_value(SecretId=auth, SecretString=json.dumps(value))
        print(f"secret {auth}: new admin key hash; the old key stops working within 300 s")
        return
    if exists(sm, auth):
        print(f"secret {auth} exists; keeping it")
    else:
        value = {
            "cursorSecret": secrets.token_urlsafe(48),
            "jwtSecret": secrets.token_urlsafe(48),
            "adminApiKeySha256": new_admin_key(key_file),
        }
        sm.create_secret(Name=auth, SecretString=json.dumps(value), Description="Clientele: cursor and token keys, admin key hash")
        print(f"created secret {auth}")
    if exists(sm, webhook):
        print(f"secret {webhook} exists; keeping it")
    else:
        sm.create_secret(Name=webhook, SecretString=json.dumps({"webhookKey": secrets.token_urlsafe(48)}),
                         Description="Clientele: the key every webhook endpoint's signing secret derives from")
        print(f"created secret {webhook}")


if __name__ == "__main__":
    main()
