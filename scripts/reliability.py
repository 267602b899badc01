#!/usr/bin/env python3
"""Writes the fault suite's figures into README.md's Reliability section.

Usage: reliability.py FIGURES.jsonl README.md

Each line of FIGURES is one scenario of tests/tests/faults as it ran: the faults it
injected, the requests it sent while they lasted, how those were answered, the
slowest answer, and what acknowledged data went missing. Nothing here is typed by
hand: the section between the markers is replaced by what this run measured, and
each verdict is computed from those figures.
"""

import json
import sys
from datetime import datetime, timezone

BEGIN = "<!-- BEGIN RELIABILITY (written by make test from the fault suite's run) -->"
END = "<!-- END RELIABILITY -->"
DEADLINE_MS = 10_000


def main(figures_path, readme_path):
    with open(figures_path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        sys.exit("reliability.py: the fault suite recorded no figures")
    rows.sort(key=lambda r: r["scenario"])
    total = {k: sum(r[k] for r in rows) for k in ("faults", "requests", "unavailable", "other_5xx", "acknowledged", "lost", "no_retry_after")}
    slowest = max(r["slowest_ms"] for r in rows)
    lines = [
        BEGIN,
        "",
        f"Measured by `make test`'s fault suite (`tests/tests/faults`) on {datetime.now(timezone.utc):%Y-%m-%d}, "
        "against DynamoDB Local paused with SIGSTOP, killed and restarted on its port, and loaded with concurrent writes.",
        "",
        "| scenario | faults injected | requests | 503 | other 5xx | 503 without Retry-After | slowest answer | acknowledged writes | lost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['faults']} | {r['requests']} | {r['unavailable']} | {r['other_5xx']} | "
            f"{r['no_retry_after']} | {r['slowest_ms']} ms | {r['acknowledged']} | {r['lost']} |"
        )
    lines.append(
        f"| **all** | {total['faults']} | {total['requests']} | {total['unavailable']} | {total['other_5xx']} | "
        f"{total['no_retry_after']} | {slowest} ms | {total['acknowledged']} | {total['lost']} |"
    )
    goals = {
        "every request answered within the deadline": slowest < DEADLINE_MS,
        "no 5xx but 503, every 503 with Retry-After": total["other_5xx"] == 0 and total["no_retry_after"] == 0,
        "no acknowledged write lost": total["lost"] == 0,
    }
    verdict = lambda ok: "met" if ok else "**not met**"
    lines += [
        "",
        f"- Every request answered within {DEADLINE_MS // 1000} s: {verdict(slowest < DEADLINE_MS)} (slowest {slowest} ms).",
        f"- No 5xx other than 503, and every 503 with `Retry-After`: "
        f"{verdict(total['other_5xx'] == 0 and total['no_retry_after'] == 0)} "
        f"({total['other_5xx']} other 5xx, {total['no_retry_after']} without the header).",
        f"- No acknowledged write lost: {verdict(total['lost'] == 0)} ({total['lost']} of {total['acknowledged']}).",
        "",
        END,
    ]
    with open(readme_path) as f:
        readme = f.read()
    if BEGIN not in readme or END not in readme:
        sys.exit("reliability.py: README.md lacks the Reliability markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme_path, "w") as f:
        f.write(head + "\n".join(lines) + tail)
    print(f"reliability: {total['faults']} faults, {total['requests']} requests, {total['other_5xx']} other 5xx, "
          f"slowest {slowest} ms, {total['lost']} of {total['acknowledged']} acknowledged writes lost")
    missed = [goal for goal, ok in goals.items() if not ok]
    if missed:
        # A verdict computed as "not met" fails the run, whatever the tests said.
        sys.exit("reliability: not met: " + "; ".join(missed))


if __name__ == "__main__":
    main(*sys.argv[1:3])
