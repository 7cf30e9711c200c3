"""Grading reports: the terminal table, GitHub Classroom runner payloads, Markdown, JUnit XML.

GitHub Classroom's reporter (``classroom-resources/autograding-grading-reporter``) reads one
base64 JSON payload per runner from ``<ID>_RESULTS``; its total is the sum of scores over
the sum of ``max_score``, and its console assumes the tests of a runner weigh the same,
which every exercise manifest guarantees. Payloads are always complete (a runner that could
not run has every case as a failed test with the reason) and small (messages truncated).
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

MESSAGE_LIMIT = 500  # characters per test message in a payload
PAYLOAD_LIMIT = 96 * 1024  # bytes of base64 per runner (GitHub caps one value at ~128 KiB)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def payload(runner, limit: int = MESSAGE_LIMIT) -> dict:
    """The runner's result in GitHub Classroom's format (``version``, ``status``, ``max_score``, ``tests``)."""
    tests = [
        {
            "name": f"{runner.exercise.id} {runner.framework} {c.name}",
            "status": "pass" if c.passed else ("error" if runner.status == "error" else "fail"),
            "score": c.points,
            "message": _truncate(c.message or "", limit),
            "test_code": f"make grade EX={runner.exercise.id[:2]} FW={runner.framework}",
            "filename": f"exercises/{runner.exercise.id}/{runner.framework}.py",
            "line_no": 0,
            "duration": 0,
        }
        for c in runner.cases
    ]
    return {"version": 1, "status": runner.status, "max_score": runner.max_points, "tests": tests}


def encoded_payload(runner) -> str:
    """Base64 of :func:`payload`, with messages shortened until it fits :data:`PAYLOAD_LIMIT`."""
    limit = MESSAGE_LIMIT
    while True:
        data = base64.b64encode(json.dumps(payload(runner, limit), sort_keys=True).encode()).decode()
        if len(data) <= PAYLOAD_LIMIT or limit <= 20:
            return data
        limit //= 2


def terminal(report) -> str:
    """The table a student or instructor reads after ``make grade``."""
    rows = [("exercise", "framework", "points", "status", "time")]
    for r in report.runners:
        rows.append((r.exercise.id, r.framework, f"{r.points}/{r.max_points}", r.status, f"{r.wall_s:.1f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    pct = 100 * report.points / report.max_points if report.max_points else 0.0
    lines.append(f"total: {report.points}/{report.max_points} points ({pct:.0f} %) in {report.wall_s:.1f} s")
    failed = [r for r in report.runners if any(not c.passed for c in r.cases)]
    if failed:
        lines += ["", "what failed:"]
    for r in failed:
        bad = [c for c in r.cases if not c.passed]
        if len(bad) > 1 and len({c.message for c in bad}) == 1:  # one cause: say it once
            lines.append(f"  {r.exercise.id} {r.framework}, all {len(bad)} failed cases: {bad[0].message}")
        else:
            lines += [f"  {r.exercise.id} {r.framework} {c.name}: {c.message}" for c in bad]
    return "\n".join(lines)


def markdown(report) -> str:
    """A Markdown summary (for ``$GITHUB_STEP_SUMMARY``)."""
    pct = 100 * report.points / report.max_points if report.max_points else 0.0
    out = [f"## Grading: {report.points}/{report.max_points} points ({pct:.0f} %)", "",
           "| exercise | framework | points | status |", "|---|---|---|---|"]
    for r in report.runners:
        out.append(f"| {r.exercise.id} {r.exercise.title} | {r.framework} | {r.points}/{r.max_points} | {r.status} |")
    failed = [(r, c) for r in report.runners for c in r.cases if not c.passed]
    if failed:
        out += ["", "### What failed", ""]
        for r, c in failed:
            msg = _truncate(c.message or "", MESSAGE_LIMIT).replace("|", "\\|")
            out.append(f"- **{r.exercise.id} {r.framework}** {c.name}: {msg}")
    return "\n".join(out) + "\n"


def junit(report) -> str:
    """JUnit XML: one ``testsuite`` per runner, one ``testcase`` per case."""
    suites = ET.Element("testsuites", tests=str(sum(len(r.cases) for r in report.runners)),
                        failures=str(sum(not c.passed for r in report.runners for c in r.cases)))
    for r in report.runners:
        suite = ET.SubElement(suites, "testsuite", name=r.id, tests=str(len(r.cases)),
                              failures=str(sum(not c.passed for c in r.cases)), time=f"{r.wall_s:.3f}")
        for c in r.cases:
            case = ET.SubElement(suite, "testcase", classname=f"{r.exercise.id}.{r.framework}", name=c.name)
            if not c.passed:
                ET.SubElement(case, "failure", message=_truncate(c.message, MESSAGE_LIMIT)).text = c.message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def as_json(report) -> dict:
    """Everything in the report as plain data (``results.json``)."""
    return {
        "points": report.points, "max_points": report.max_points, "hidden_seed": report.hidden_seed,
        "wall_s": round(report.wall_s, 2),
        "runners": [
            {"id": r.id, "exercise": r.exercise.id, "framework": r.framework, "points": r.points,
             "max_points": r.max_points, "status": r.status, "wall_s": round(r.wall_s, 2),
             "cases": [{"name": c.name, "group": c.group, "points": c.points, "max_points": c.max_points,
                        "message": c.message} for c in r.cases]}
            for r in report.runners
        ],
    }
