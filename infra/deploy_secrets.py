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

An existing secret is kept as it is. One scheduled for deletion (a `delete-secret` with a
recovery window) cannot be read, so the functions could not start: the run stops and says
what to do, unless RESTORE_SECRETS=yes restores it (with its old values, the admin key's
hash among them: someone who deleted it to be rid of a leaked value wants it deleted for
good instead, with `--force-delete-without-recovery`, and new ones made). A lost admin key
is replaced with `--new-admin-key` (`make admin-key`): its hash into the auth secret, the rest
kept, then the key to the key file; the old key stops working when the functions next read
their secrets (SECRETS_REFRESH_SECONDS, 300 s). To rotate another value, put a new one with
`aws secretsmanager put-secret-value` (same JSON keys).
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
        if os.environ.get("RESTORE_SECRETS") != "yes":
            raise SystemExit(
                f"secret {name} is scheduled for deletion ({found['DeletedDate']:%Y-%m-%d}), so the functions could not read it. "
                f"Either restore it with its old values (RESTORE_SECRETS=yes make deploy), or delete it for good "
                f"(aws secretsmanager delete-secret --secret-id {name} --force-delete-without-recovery) and run make deploy "
                "again to make new ones (a new admin key among them)"
            )
        sm.restore_secret(SecretId=name)
        print(f"secret {name} was scheduled for deletion ({found['DeletedDate']:%Y-%m-%d}); restored it (RESTORE_SECRETS=yes)")
    return True


class AdminKey:
    """A new admin API key: `sha256` goes into the secret; `keep()`, once the secret holds
    it, puts the key in `key_file` (mode 0600 from its creation, never through a link)."""

    def __init__(self, key_file: Path):
        self.key = "ck_live_" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
        self.sha256 = hashlib.sha256(self.key.encode()).hexdigest()
        self.key_file = key_file

    def keep(self):
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        staged = self.key_file.with_name(f".{self.key_file.name}.{secrets.token_hex(4)}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.key + "\n")
        os.replace(staged, self.key_file)
        print(f"platform admin API key written to {self.key_file} (mode 0600, nowhere else): keep it safe, then delete the file")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="clientele")
    ap.add_argument("--region", default=None)
    ap.add_argument("--key-file", default=None, help="where a new admin key is written (default .deploy/<name>-admin-key)")
    ap.add_argument("--new-admin-key", action="store_true", help="replace the admin key of an existing auth secret")
    args = ap.parse_args()
    sm = boto3.client("secretsmanager", region_name=args.region)
    auth, webhook = f"{args.name}/auth", f"{args.name}/webhook"
    # One file per account, Region and secrets' name: another deployment's key is never overwritten.
    account = boto3.client("sts", region_name=args.region).get_caller_identity()["Account"]
    where = f"{account}-{sm.meta.region_name}-{args.name.replace('/', '-')}"
    key_file = Path(args.key_file or Path(__file__).resolve().parent.parent / ".deploy" / f"{where}-admin-key")
    if args.new_admin_key:
        if not exists(sm, auth):
            raise SystemExit(f"no secret {auth}: `make deploy` creates it, with an admin key")
        value = json.loads(sm.get_secret_value(SecretId=auth)["SecretString"])
        admin = AdminKey(key_file)
        value["adminApiKeySha256"] = admin.sha256
        sm.put_secret_value(SecretId=auth, SecretString=json.dumps(value))
        admin.keep()
        print(f"secret {auth}: new admin key hash; the old key stops working within 300 s")
        return
    if exists(sm, auth):
        print(f"secret {auth} exists; keeping it")
    else:
        admin = AdminKey(key_file)
        value = {
            "cursorSecret": secrets.token_urlsafe(48),
            "jwtSecret": secrets.token_urlsafe(48),
            "adminApiKeySha256": admin.sha256,
        }
        sm.create_secret(Name=auth, SecretString=json.dumps(value), Description="Clientele: cursor and token keys, admin key hash")
        admin.keep()
        print(f"created secret {auth}")
    if exists(sm, webhook):
        print(f"secret {webhook} exists; keeping it")
    else:
        sm.create_secret(Name=webhook, SecretString=json.dumps({"webhookKey": secrets.token_urlsafe(48)}),
                         Description="Clientele: the key every webhook endpoint's signing secret derives from")
        print(f"created secret {webhook}")


if __name__ == "__main__":
    main()
