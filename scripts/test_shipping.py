"""shipping.py's check refuses every way the bytes about to ship can differ from the rehearsed."""

import hashlib
import json
import tempfile
import unittest
import zipfile
from pathlib import Path

import shipping

TEMPLATE = """Resources:
  GetClientFunction:
    Type: AWS::Serverless::Function
    Properties:
      Description: "Get a client"
      CodeUri: ../target/lambda/get-client.zip
      Handler: bootstrap
  ConsoleFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../target/lambda/console.zip
      Handler: bootstrap
"""


def write_zip(path: Path, members: dict[str, bytes], mode: int = 0o100755) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            z.writestr(info, data)


class Check(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.out = Path(self.dir.name)
        self.bytes = {"get-client": b"\x7fELF get-client", "console": b"\x7fELF console"}
        for name, data in self.bytes.items():
            write_zip(self.out / f"{name}.zip", {"bootstrap": data})
        self.rehearse(self.bytes)

    def tearDown(self):
        self.dir.cleanup()

    def rehearse(self, ran: dict[str, bytes]) -> None:
        sha = {n: hashlib.sha256(d).hexdigest() for n, d in ran.items()}
        (self.out / "rehearsed.json").write_text(json.dumps({"at": "now", "sha256": sha}))

    def refused(self, template: str = TEMPLATE) -> str:
        with self.assertRaises(shipping.Refused) as e:
            shipping.check(self.out, template)
        return str(e.exception)

    def test_the_rehearsed_zips_pass_with_the_code_sha256_lambda_will_report(self):
        expected = shipping.check(self.out, TEMPLATE)
        self.assertEqual(sorted(expected), ["ConsoleFunction", "GetClientFunction"])
        self.assertEqual(expected["GetClientFunction"], shipping.code_sha256((self.out / "get-client.zip").read_bytes()))

    def test_a_bootstrap_the_rehearsal_did_not_run_is_refused(self):
        write_zip(self.out / "console.zip", {"bootstrap": b"\x7fELF rebuilt"})
        self.assertIn("not the bootstrap `make rehearse` ran", self.refused())

    def test_no_rehearsal_is_refused(self):
        (self.out / "rehearsed.json").unlink()
        self.assertIn("run `make rehearse`", self.refused())

    def test_a_function_the_rehearsal_did_not_run_is_refused(self):
        self.rehearse({"get-client": self.bytes["get-client"]})
        self.assertIn("the rehearsal ran", self.refused())

    def test_a_zip_with_more_than_the_bootstrap_or_not_executable_is_refused(self):
        write_zip(self.out / "console.zip", {"bootstrap": self.bytes["console"], "extra": b""})
        self.assertIn("not one `bootstrap`", self.refused())
        write_zip(self.out / "console.zip", {"bootstrap": self.bytes["console"]}, mode=0o100644)
        self.assertIn("not executable", self.refused())

    def test_a_missing_zip_is_refused(self):
        (self.out / "console.zip").unlink()
        self.assertIn("console.zip", self.refused())

    def test_a_code_uri_that_is_not_a_package_zip_is_refused(self):
        self.assertIn("not a make package zip", self.refused(TEMPLATE.replace("../target/lambda/console.zip", "../target/lambda/console/")))


class Verify(unittest.TestCase):
    """After the deploy: each function's CodeSha256, as Lambda reports it, against the zip's."""

    class Cfn:
        def __init__(self, resources):
            self.resources = resources

        def get_paginator(self, name):
            assert name == "list_stack_resources"
            resources = self.resources

            class Pages:
                def paginate(self, StackName):
                    return [{"StackResourceSummaries": resources[:1]}, {"StackResourceSummaries": resources[1:]}]

            return Pages()

    class Lambda:
        def __init__(self, running):
            self.running = running

        def get_function_configuration(self, FunctionName):
            return {"CodeSha256": self.running[FunctionName]}

    def verify_with(self, running):
        resources = [
            {"LogicalResourceId": "GetClientFunction", "PhysicalResourceId": "s-GetClient-1", "ResourceType": "AWS::Lambda::Function"},
            {"LogicalResourceId": "Table", "PhysicalResourceId": "s-Table-1", "ResourceType": "AWS::DynamoDB::Table"},
            {"LogicalResourceId": "ConsoleFunction", "PhysicalResourceId": "s-Console-1", "ResourceType": "AWS::Lambda::Function"},
        ]
        expected = {"GetClientFunction": "aaa=", "ConsoleFunction": "bbb="}
        return shipping.verify("s", expected, self.Cfn(resources), self.Lambda(running))

    def test_the_rehearsed_bytes_running_pass(self):
        self.assertEqual(self.verify_with({"s-GetClient-1": "aaa=", "s-Console-1": "bbb="}), 0)

    def test_one_function_running_other_bytes_fails(self):
        self.assertEqual(self.verify_with({"s-GetClient-1": "aaa=", "s-Console-1": "other="}), 1)


if __name__ == "__main__":
    unittest.main()
