"""``leitplanke report`` as a user runs it, over the generated history: every section in JSON and
Markdown, HTML with its charts, and a PDF whose first page is not blank and carries the section titles
(pdftotext, pdftoppm)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import historydata
import pytest
import smtpservers

AT = (historydata.T + timedelta(days=21)).isoformat()


@pytest.fixture
def seeded(catalog_database: Any, result: Any) -> str:
    historydata.ingest_history(catalog_database, result)
    return str(catalog_database.url)


def _report(url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        sys.executable,
        "-m",
        "leitplanke.cli",
        "report",
        "--database",
        url,
        "--at",
        AT,
        "--period",
        "21d",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.run(command, capture_output=True, timeout=300, env=env)


def test_the_json_report_has_every_section_with_the_known_answers(seeded: str) -> None:
    done = _report(seeded, "--format", "json")
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert sorted(report) == sorted(
        [
            "scope",
            "at",
            "periodDays",
            "apps",
            "compliance",
            "security",
            "performance",
            "cost",
            "kpis",
            "comparison",
        ]
    )
    assert (report["scope"], report["apps"], report["cost"]) == ("org", 2, {"note": "not measured"})
    assert report["compliance"]["recurring"] == [
        {"policy": "require-probes", "apps": ["checkout", "warehouse"], "reopenings": 2}
    ]
    assert report["security"]["open"] == {"critical": 0, "high": 1, "medium": 1, "low": 0, "info": 0}
    assert [(k["kpi"], k["value"], k["met"]) for k in report["kpis"]["kpis"][:3]] == [
        ("critical-open-over-7d", 0, True),
        ("sla-adherence", 0.8333, False),
        ("waiver-ratio", 0.3333, False),
    ]


def test_the_markdown_report_has_a_heading_per_section(seeded: str) -> None:
    done = _report(seeded, "--format", "md", "--scope", "team:team-data")
    assert done.returncode == 0, done.stderr.decode()
    headings = [line for line in done.stdout.decode().splitlines() if line.startswith("## ")]
    assert headings == [
        "## Compliance",
        "## Security",
        "## Performance",
        "## Cost",
        "## KPIs against targets",
        "## Cloud-native compared",
    ]


def test_an_unknown_team_is_a_usage_error_naming_the_scope(seeded: str) -> None:
    done = _report(seeded, "--scope", "team:nobody")
    assert (done.returncode, done.stderr.decode().strip()) == (
        2,
        "leitplanke: --scope: no team 'nobody' with apps in the catalog",
    )


def test_the_pdf_report_shows_every_section_title_on_pages_that_are_not_blank(
    seeded: str, tmp_path: Path
) -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        message = "poppler-utils (pdftotext, pdftoppm) not installed; scripts/setup-system.sh installs it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    pdf = tmp_path / "report.pdf"
    done = _report(seeded, "--format", "pdf", "--output", str(pdf))
    assert done.returncode == 0, done.stderr.decode()
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    titles = [
        "Compliance",
        "Security",
        "Performance",
        "Cost",
        "KPIs against targets",
        "Cloud-native compared",
    ]
    assert [title for title in titles if title not in text] == []
    subprocess.run(
        ["pdftoppm", "-gray", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True
    )
    page = next(tmp_path.glob("page*.pgm")).read_bytes()
    pixels = page.split(b"\n", 3)[3]  # P5, size, maximum, then one byte a pixel
    dark = sum(1 for value in pixels if value < 128)
    assert dark > len(pixels) // 200, f"{dark} dark pixels of {len(pixels)}"


def test_the_report_queues_trend_alerts_for_the_configured_targets_once(
    seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LEITPLANKE_ALERT_TARGETS", '[{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}]'
    )
    first = _report(seeded, "--format", "json", "--alert")
    again = _report(seeded, "--format", "json", "--alert")
    assert (first.returncode, first.stderr.decode().strip()) == (0, "3 alert(s) queued for 1 target(s)")
    assert (again.returncode, again.stderr.decode().strip()) == (0, "0 alert(s) queued for 1 target(s)")


def test_the_report_is_mailed_through_a_real_smtp_server(seeded: str) -> None:
    with smtpservers.smtp_server() as server:
        done = _report(
            seeded, "--format", "md", "--mail-to", "cto@example.com", "--smtp", f"127.0.0.1:{server.port}"
        )
    assert (done.returncode, done.stderr.decode().strip(), done.stdout) == (
        0,
        "mailed to cto@example.com",
        b"",
    )
    (mail,) = server.messages
    attachment = next(mail.iter_attachments())
    assert (mail["To"], mail["Subject"], attachment.get_filename()) == (
        "cto@example.com",
        "leitplanke report: org, 2026-01-26",
        "leitplanke-report.md",
    )
    assert attachment.get_content().splitlines()[0] == "# leitplanke report: org"
