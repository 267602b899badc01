#!/usr/bin/env python3
"""Creates the table of infra/template.yaml (resource `Table`) in DynamoDB Local.

    python infra/create_table.py --endpoint http://127.0.0.1:8000 --table clientele

The local stack builds exactly the table the deploy defines: keys, indexes,
stream and TTL all come from the template's Properties.
"""
import argparse
import os
import time

import boto3
import yaml


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping intrinsic functions (!Ref, !Sub, ...) as plain values."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CfnLoader.add_multi_constructor("!", _tag)


def table_properties():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "template.yaml")) as f:
        template = yaml.load(f, Loader=CfnLoader)
    return template["Resources"]["Table"]["Properties"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--table", required=True)
    args = ap.parse_args()
    props = table_properties()
    db = boto3.client("dynamodb", endpoint_url=args.endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))
    request = dict(
        TableName=args.table,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if args.table in db.list_tables()["TableNames"]:
        print(f"table {args.table} exists")
        return
    db.create_table(**request)
    while db.describe_table(TableName=args.table)["Table"]["TableStatus"] != "ACTIVE":
        time.sleep(0.2)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        db.update_time_to_live(TableName=args.table, TimeToLiveSpecification=ttl)
    print(f"table {args.table} created from infra/template.yaml")


if __name__ == "__main__":
    main()
