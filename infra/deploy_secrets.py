#!/usr/bin/env python3
"""Creates the deployment's secrets in AWS Secrets Manager unless they exist.

    python infra/deploy_secrets.py --name clientele [--region eu-west-1]

Two secrets, read by the functions at cold start and every few minutes
(shared/src/live_secrets.rs), each only by the functions granted it (infra/routes.py):

- `<name>/auth`: cursorSecret, jwtSecret (random) and adminApiKeySha256, only the SHA-256
  of the platform admin's API key: the key itself is printed here, once, and kept nowhere;
- `<name>/webhook`: webhookKey (random), from which every endpoint's signing secret derives.

An existing secret is kept as it is. To rotate one, put a new value with
`aws secretsmanager put-secret-value` (same JSON keys); running functions take it within
SECRETS_REFRESH_SECONDS (300 s).
"""
import argparse
import hashlib
import json
import secrets

import boto3


def exists(sm, name):
    try:
        sm.describe_secret(SecretId=name)
        return True
    except sm.exceptions.ResourceNotFoundException:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="clientele")
    ap.add_argument("--region", default=None)
    args = ap.parse_args()
    sm = boto3.client("secretsmanager", region_name=args.region)
    auth, webhook = f"{args.name}/auth", f"{args.name}/webhook"
    if exists(sm, auth):
        print(f"secret {auth} exists; keeping it")
    else:
        admin_key = "ck_live_" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
        value = {
            "cursorSecret": secrets.token_urlsafe(48),
            "jwtSecret": secrets.token_urlsafe(48),
            "adminApiKeySha256": hashlib.sha256(admin_key.encode()).hexdigest(),
        }
        sm.create_secret(Name=auth, SecretString=json.dumps(value), Description="Clientele: cursor and token keys, admin key hash")
        print(f"created secret {auth}")
        print(f"platform admin API key (shown once, store it safely): {admin_key}")
    if exists(sm, webhook):
        print(f"secret {webhook} exists; keeping it")
    else:
        sm.create_secret(Name=webhook, SecretString=json.dumps({"webhookKey": secrets.token_urlsafe(48)}),
                         Description="Clientele: the key every webhook endpoint's signing secret derives from")
        print(f"created secret {webhook}")


if __name__ == "__main__":
    main()
