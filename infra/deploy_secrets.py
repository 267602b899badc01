#!/usr/bin/env python3
"""Creates the deployment's secrets in AWS Secrets Manager unless they exist.

    python infra/deploy_secrets.py --name clientele

The secret holds random cursor, JWT and webhook keys, and only the SHA-256 of the
platform admin's API key: the key itself is printed here, once, and kept nowhere.
"""
import argparse
import hashlib
import json
import secrets

import boto3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="clientele")
    args = ap.parse_args()
    sm = boto3.client("secretsmanager")
    try:
        sm.describe_secret(SecretId=args.name)
        print(f"secret {args.name} exists; keeping it")
        return
    except sm.exceptions.ResourceNotFoundException:
        pass
    admin_key = "ck_live_" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
    value = {
        "cursorSecret": secrets.token_urlsafe(48),
        "jwtSecret": secrets.token_urlsafe(48),
        "webhookKey": secrets.token_urlsafe(48),
        "adminApiKeySha256": hashlib.sha256(admin_key.encode()).hexdigest(),
    }
    sm.create_secret(Name=args.name, SecretString=json.dumps(value))
    print(f"created secret {args.name}")
    print(f"platform admin API key (shown once, store it safely): {admin_key}")


if __name__ == "__main__":
    main()
