#!/usr/bin/env bash
# make package: every function built for Lambda's arm64 in one cargo-lambda invocation
# (zig, from cargo-lambda's pip package, links for aarch64), the `deploy` profile of
# Cargo.toml, into target/lambda/<function>/bootstrap, which `make rehearse` runs; each
# then zipped alone, byte for byte the same for the same bootstrap, into
# target/lambda/<function>.zip: the file the template's CodeUri names, which `sam deploy`
# uploads as it is (so the function's CodeSha256 on AWS is that zip's SHA-256, and
# `make deploy` checks it). Checks that no bootstrap needs a C library newer than Lambda's
# (provided.al2023: glibc 2.34). Writes target/lambda/package.json (build time, profile,
# commit, clean tree or not, each bootstrap's size and sha256, its zip's CodeSha256), which
# `make rehearse` and `make deploy` read.
#
# CARGO_LAMBDA: the cargo-lambda to use (default: the one `make tools` installs).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CARGO_LAMBDA=${CARGO_LAMBDA:-$ROOT/.tools/venv/bin/cargo-lambda}
# cargo-lambda finds zig as the pip package's `python-zig`, next to it.
export PATH="$(dirname "$CARGO_LAMBDA"):$PATH"
cd "$ROOT"

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

start=$SECONDS
"$CARGO_LAMBDA" lambda build --profile deploy --arm64 --workspace --exclude clientele-bench --exclude clientele-tests
seconds=$((SECONDS - start))

python3 - "$seconds" <<'PY'
import base64, hashlib, json, pathlib, re, subprocess, sys, zipfile

root = pathlib.Path(".")
functions = sorted(p.name for p in (root / "functions").iterdir() if (p / "Cargo.toml").is_file())
out = root / "target/lambda"
missing = [f for f in functions if not (out / f / "bootstrap").is_file()]
if missing:
    sys.exit(f"make package: no bootstrap for {missing}")
git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
bootstraps = {}
for f in functions:
    data = (out / f / "bootstrap").read_bytes()
    if data[:4] != b"\x7fELF" or int.from_bytes(data[18:20], "little") != 183:  # EM_AARCH64
        sys.exit(f"make package: {f}/bootstrap is not an arm64 ELF executable")
    # Lambda's provided.al2023 runtime has glibc 2.34: a symbol version above it would load
    # under the rehearsal's newer C library and fail on AWS.
    needs = subprocess.run(["readelf", "--version-info", "--wide", str(out / f / "bootstrap")], capture_output=True, text=True, check=True).stdout
    newest = max((tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([0-9]+(?:\.[0-9]+)+)", needs)), default=(0,))
    if newest > (2, 34):
        sys.exit(f"make package: {f}/bootstrap needs glibc {'.'.join(map(str, newest))}; Lambda's provided.al2023 has 2.34")
    # One member, `bootstrap`, executable, with a fixed date: the same bootstrap always
    # makes the same zip (S3 and Lambda then see no change).
    member = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    member.external_attr = 0o100755 << 16
    member.create_system = 3
    member.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out / f"{f}.zip", "w") as z:
        z.writestr(member, data, compresslevel=9)
    packed = (out / f"{f}.zip").read_bytes()
    bootstraps[f] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "zip_bytes": len(packed),
                     "code_sha256": base64.b64encode(hashlib.sha256(packed).digest()).decode(), "glibc": ".".join(map(str, newest))}
report = {"seconds": int(sys.argv[1]), "profile": "deploy", "target": "aarch64-unknown-linux-gnu",
          "commit": git("rev-parse", "--short", "HEAD"), "clean": git("status", "--porcelain") == "",
          "bootstraps": bootstraps}
(out / "package.json").write_text(json.dumps(report, indent=1) + "\n")
sizes = [b["bytes"] for b in bootstraps.values()]
big = max(bootstraps, key=lambda f: bootstraps[f]["bytes"])
zipped = sum(b["zip_bytes"] for b in bootstraps.values())
glibc = max((b["glibc"] for b in bootstraps.values()), key=lambda v: tuple(map(int, v.split("."))))
print(f"package: {len(sizes)} arm64 bootstraps in {report['seconds']} s (commit {report['commit']}"
      f"{'' if report['clean'] else ', uncommitted changes'}); {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB "
      f"(largest {big}), {sum(sizes) / 1e6:.1f} MB in all, {zipped / 1e6:.1f} MB zipped; newest glibc symbol {glibc} "
      f"(Lambda: 2.34) -> target/lambda/")
PY
