"""`make test-hardening`: run the assurance checks one after another and end with a table of each
check, what it tried (counts) and its result. Exit status 1 when any check failed; a check that
cannot run here (pip-audit without its advisory database) is "skipped" with the reason.

    python -m tests.hardening.report [--examples N] [--out DIR]

Checks:
- malware scanning: tests/scanning (a real clamd, EICAR bare and nested), on every backend the
  suite runs (SQLite, and PostgreSQL when ATTEST_TEST_POSTGRES_URL is set);
- generative API: tests/hardening/test_generative_api.py with N examples per operation and role;
- generative API, stateful: tests/hardening/test_stateful_api.py, scenarios along the OpenAPI links
  (--stateful-scenarios per role, up to --stateful-steps calls each);
- backup and restore: tests/hardening/test_backup_restore.py (the real commands, under load);
- concurrency drill: tests/hardening/test_concurrency_drill.py, 8 writer processes x M mixed
  transactions on each backend (200 by default);
- crash drills: tests/hardening/test_crash_drills.py, kill -9 of the web process, the worker and
  the reminder run during 20 uploads of 1-150 MB (the sum capped at 1 GB; HARDENING_CRASH_UPLOADS,
  HARDENING_CRASH_CAP_MB, HARDENING_CRASH_SEED), answer edits, a submission and a reminder run,
  then a full disk and a dropped database connection, on each backend;
- browser attack crawl: tests/browser/test_attack_crawl.py (planted payloads, every page and
  fragment crawled in Chromium for a supplier lead and a buyer advisor);
- bandit: app/, no finding of high severity;
- pip-audit: the locked dependencies (requirements-dev.lock) against the PyPI advisory database;
- SBOM: a CycloneDX JSON document of the environment (`make sbom` writes the same).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass
class Row:
    check: str
    tried: str
    result: str


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(command), flush=True)
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )


def junit_counts(path: Path) -> tuple[int, int]:
    """(tests run, tests failed or in error) from a pytest junit file."""
    if not path.exists():
        return 0, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = sum(int(s.get("tests", 0)) for s in suites)
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    return total, bad


def pytest_row(name: str, tried: str, targets: list[str], out: Path, env: dict[str, str]) -> Row:
    junit = out / ("".join(c if c.isalnum() else "-" for c in name.split(" (")[0]) + ".xml")
    done = run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *targets], env)
    total, bad = junit_counts(junit)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    result = "pass" if done.returncode == 0 and total else f"FAIL ({bad} of {total} tests)"
    return Row(name, f"{tried}; {total} tests", result)


def scanning(out: Path) -> Row:
    from tests.scanning.clamd import CLEAN, INFECTED

    tried = (
        f"{len(INFECTED)} infected and {len(CLEAN)} clean samples (bare, zip in zip, docx, pdf); "
        "clamd down, silent and over its limits"
    )
    return pytest_row("malware scanning (ClamAV)", tried, ["tests/scanning"], out, {})


def generative(out: Path, examples: int) -> Row:
    report = out / "generative.jsonl"
    report.unlink(missing_ok=True)
    env = {"HARDENING_EXAMPLES": str(examples), "HARDENING_REPORT": str(report)}
    row = pytest_row(
        "generative API (schemathesis)", "", ["tests/hardening/test_generative_api.py"], out, env
    )
    lines = report.read_text().splitlines() if report.exists() else []
    row.tried = "; ".join(json.loads(line)["tried"] for line in lines) or row.tried
    return row


def stateful(out: Path, scenarios: int, steps: int) -> Row:
    """The stateful phase: sequences along the schema's OpenAPI links (app/api/links.py)."""
    report = out / "stateful.jsonl"
    report.unlink(missing_ok=True)
    env = {
        "HARDENING_STATEFUL_SCENARIOS": str(scenarios),
        "HARDENING_STATEFUL_STEPS": str(steps),
        "HARDENING_REPORT": str(report),
    }
    row = pytest_row(
        "generative API, stateful (links)", "", ["tests/hardening/test_stateful_api.py"], out, env
    )
    lines = report.read_text().splitlines() if report.exists() else []
    row.tried = "; ".join(json.loads(line)["tried"] for line in lines) or row.tried
    return row


def backup_restore(out: Path) -> Row:
    tried = "attest backup under upload load, restore into a fresh instance, every row and hash compared"
    return pytest_row("backup and restore", tried, ["tests/hardening/test_backup_restore.py"], out, {})


def concurrency_drill(out: Path, transactions: int) -> Row:
    report = out / "concurrency-drill.jsonl"
    report.unlink(missing_ok=True)
    env = {"HARDENING_DRILL_TRANSACTIONS": str(transactions), "HARDENING_REPORT": str(report)}
    row = pytest_row("concurrency drill", "", ["tests/hardening/test_concurrency_drill.py"], out, env)
    lines = report.read_text().splitlines() if report.exists() else []
    row.tried = "; ".join(json.loads(line)["tried"] for line in lines) or row.tried
    return row


def crash_drills(out: Path) -> Row:
    report = out / "crash-drills.jsonl"
    report.unlink(missing_ok=True)
    env = {
        "HARDENING_CRASH_UPLOADS": os.environ.get("HARDENING_CRASH_UPLOADS", "20"),
        "HARDENING_CRASH_CAP_MB": os.environ.get("HARDENING_CRASH_CAP_MB", "1024"),
        "HARDENING_REPORT": str(report),
    }
    row = pytest_row("crash and fault drills", "", ["tests/hardening/test_crash_drills.py"], out, env)
    lines = report.read_text().splitlines() if report.exists() else []
    row.tried = "; ".join(json.loads(line)["tried"] for line in lines) or row.tried
    return row


def attack_crawl(out: Path) -> Row:
    report = out / "attack-crawl.jsonl"
    report.unlink(missing_ok=True)
    env = {"HARDENING_CRAWL_FULL": "1", "HARDENING_REPORT": str(report)}
    row = pytest_row("browser attack crawl", "", ["tests/browser/test_attack_crawl.py"], out, env)
    lines = report.read_text().splitlines() if report.exists() else []
    row.tried = "; ".join(json.loads(line)["tried"] for line in lines) or row.tried
    return row


def bandit(out: Path) -> Row:
    target = out / "bandit.json"
    run([str(BIN / "bandit"), "-q", "-r", "app", "-f", "json", "-o", str(target)])
    if not target.exists():
        return Row("bandit (app/)", "not run", "FAIL (bandit wrote no report)")
    data = json.loads(target.read_text())
    severities = [r["issue_severity"] for r in data["results"]]
    counts = {level: severities.count(level) for level in ("HIGH", "MEDIUM", "LOW")}
    lines = data["metrics"]["_totals"]["loc"]
    tried = f"{lines} lines; findings high {counts['HIGH']}, medium {counts['MEDIUM']}, low {counts['LOW']}"
    return Row("bandit (app/)", tried, "pass" if counts["HIGH"] == 0 else "FAIL (high findings)")


# pip-audit reads the lock (every pin, hash-checked, as `make dev` installs it), not the environment.
LOCKED = ["-r", "requirements-dev.lock", "--require-hashes", "--disable-pip"]


def pip_audit(out: Path) -> Row:
    target = out / "pip-audit.json"
    done = run(
        [str(BIN / "pip-audit"), *LOCKED, "--progress-spinner", "off", "-f", "json", "-o", str(target)]
    )
    if not target.exists():
        return Row("pip-audit", "not run", f"skipped: pip-audit could not run ({done.stderr.strip()[-200:]})")
    data = json.loads(target.read_text())
    dependencies = data.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        return Row(
            "pip-audit",
            f"{len(dependencies)} locked packages",
            "skipped: its advisory database (pypi.org) cannot be reached from here; "
            "run `make test-hardening` where it can",
        )
    vulnerable = [d for d in audited if d.get("vulns")]
    tried = f"{len(audited)} of {len(dependencies)} packages audited; {len(vulnerable)} with known advisories"
    return Row(
        "pip-audit",
        tried,
        "pass" if not vulnerable else "FAIL (" + ", ".join(d["name"] for d in vulnerable) + ")",
    )


def sbom(out: Path) -> Row:
    target = out / "sbom.cdx.json"
    done = run(
        [
            str(BIN / "cyclonedx-py"),
            "environment",
            "--pyproject",
            "pyproject.toml",
            "--of",
            "JSON",
            "-o",
            str(target),
            sys.executable,
        ]
    )
    if done.returncode != 0 or not target.exists():
        return Row("SBOM (CycloneDX)", "not made", f"FAIL ({done.stderr.strip()[-200:]})")
    components = len(json.loads(target.read_text()).get("components", []))
    return Row("SBOM (CycloneDX)", f"{components} components in {target}", "pass")


def table(rows: list[Row]) -> str:
    headers = Row("Check", "Tried", "Result")
    widths = [max(len(getattr(r, f)) for r in [headers, *rows]) for f in ("check", "tried", "result")]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line]
    for index, row in enumerate([headers, *rows]):
        cells = [row.check, row.tried, row.result]
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
        if index == 0:
            out.append(line)
    out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="generated examples per operation and role")
    parser.add_argument(
        "--drill-transactions", type=int, default=200, help="transactions per writer in the concurrency drill"
    )
    parser.add_argument(
        "--stateful-scenarios", type=int, default=20, help="stateful API scenarios (link walks) per role"
    )
    parser.add_argument("--stateful-steps", type=int, default=12, help="most steps in one stateful scenario")
    parser.add_argument("--out", type=Path, default=Path("var/hardening"), help="where the reports go")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [
        scanning(args.out),
        generative(args.out, args.examples),
        stateful(args.out, args.stateful_scenarios, args.stateful_steps),
        backup_restore(args.out),
        concurrency_drill(args.out, args.drill_transactions),
        crash_drills(args.out),
        attack_crawl(args.out),
        bandit(args.out),
        pip_audit(args.out),
        sbom(args.out),
    ]
    print()
    print(table(rows))
    (args.out / "summary.json").write_text(json.dumps([r.__dict__ for r in rows], indent=2))
    return 1 if any(r.result.startswith("FAIL") for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
