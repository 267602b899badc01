"""What `make deploy` ships, checked against what `make rehearse` ran.

    shipping.py check          before the upload, without AWS: every function of the template
                               ships target/lambda/<function>.zip, whose one member is the
                               bootstrap `make rehearse` ran (its sha256 in rehearsed.json)
                               and is still the file on disk; exits 1 otherwise
    shipping.py verify STACK   after `sam deploy`: every function of the stack runs that zip
                               (Lambda's CodeSha256 is the SHA-256 of the zip it was given,
                               base64), looked up through the stack's resources; exits 1
                               otherwise

`make package` writes the zips (scripts/package.sh) and `make rehearse` rehearsed.json
(scripts/rehearse.py); `sam deploy` uploads a CodeUri that names a file as it is.
"""

import base64
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target/lambda"
TEMPLATE = ROOT / "infra/template.yaml"


class Refused(Exception):
    pass


def shipped_by_template(template: str) -> dict[str, str]:
    """Each function's logical id -> the function (crate) whose zip its CodeUri names."""
    found = re.findall(r"^  (\w+):\n    Type: AWS::Serverless::Function\n(?:      .*\n|    Properties:\n)*?      CodeUri: (.*)\n", template, re.M)
    shipped = {}
    for logical, uri in found:
        m = re.fullmatch(r"\.\./target/lambda/([a-z0-9-]+)\.zip", uri.strip())
        if not m:
            raise Refused(f"{logical}: CodeUri {uri.strip()!r} is not a make package zip (../target/lambda/<function>.zip)")
        shipped[logical] = m.group(1)
    if len(found) != template.count("Type: AWS::Serverless::Function"):
        raise Refused("infra/template.yaml: a function without a CodeUri line of its own")
    return shipped


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def code_sha256(data: bytes) -> str:
    """As Lambda reports a function's code: the SHA-256 of its zip, base64."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def check(out: Path = OUT, template: str | None = None) -> dict[str, str]:
    """The CodeSha256 each function will run, by logical id; `Refused` if anything about
    to ship is not what the rehearsal ran."""
    template = template if template is not None else TEMPLATE.read_text()
    shipped = shipped_by_template(template)
    try:
        rehearsed = json.loads((out / "rehearsed.json").read_text())
    except FileNotFoundError:
        raise Refused("no rehearsal of these bootstraps (target/lambda/rehearsed.json): run `make rehearse`") from None
    tested = rehearsed["sha256"]
    if sorted(set(shipped.values())) != sorted(tested):
        raise Refused(f"the template ships {sorted(set(shipped.values()))}, the rehearsal ran {sorted(tested)}")
    expected = {}
    for logical, function in shipped.items():
        zip_path = out / f"{function}.zip"
        try:
            data = zip_path.read_bytes()
            with zipfile.ZipFile(zip_path) as z:
                members = z.infolist()
                inside = z.read("bootstrap") if [m.filename for m in members] == ["bootstrap"] else None
                mode = members[0].external_attr >> 16 if members else 0
        except (FileNotFoundError, zipfile.BadZipFile, KeyError) as e:
            raise Refused(f"{shown(zip_path)}: {e}: run `make rehearse`") from None
        if inside is None:
            raise Refused(f"{shown(zip_path)} holds {[m.filename for m in members]}, not one `bootstrap`")
        if mode & 0o111 != 0o111:
            raise Refused(f"{shown(zip_path)}: its bootstrap is not executable (mode {mode:o})")
        if hashlib.sha256(inside).hexdigest() != tested[function]:
            raise Refused(f"{shown(zip_path)} is not the bootstrap `make rehearse` ran: run `make rehearse` again")
        expected[logical] = code_sha256(data)
    return expected


def verify(stack: str, expected: dict[str, str], cfn=None, lam=None) -> int:
    if cfn is None or lam is None:
        import boto3

        cfn, lam = boto3.client("cloudformation"), boto3.client("lambda")
    physical = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            if r["ResourceType"] == "AWS::Lambda::Function":
                physical[r["LogicalResourceId"]] = r["PhysicalResourceId"]
    wrong = []
    for logical, sha in sorted(expected.items()):
        if logical not in physical:
            wrong.append(f"{logical}: not in stack {stack}")
            continue
        running = lam.get_function_configuration(FunctionName=physical[logical])["CodeSha256"]
        if running != sha:
            wrong.append(f"{logical} ({physical[logical]}): runs CodeSha256 {running}, the rehearsed zip is {sha}")
    if wrong:
        print("deploy: the stack does NOT run the rehearsed bytes:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    print(f"deploy: all {len(expected)} functions of {stack} run the rehearsed bytes (CodeSha256 checked)")
    return 0


def main(argv: list[str]) -> int:
    try:
        expected = check()
    except Refused as e:
        print(f"deploy: refused: {e}", file=sys.stderr)
        return 1
    if argv[:1] == ["check"]:
        rehearsed = json.loads((OUT / "rehearsed.json").read_text())
        package = json.loads((OUT / "package.json").read_text())
        print(f"shipping: {len(expected)} functions, each the zip of a bootstrap `make rehearse` ran ({rehearsed['at']}); "
              f"built at commit {package['commit']}{'' if package['clean'] else ' with uncommitted changes'}")
        return 0
    if argv[:1] == ["verify"] and len(argv) == 2:
        return verify(argv[1], expected)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
