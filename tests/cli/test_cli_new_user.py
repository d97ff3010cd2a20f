"""Issue 10: what a new user tripped on, reproduced through the CLI (defects 5, 9, 11)."""

from __future__ import annotations

import json

import pytest
from cli_helpers import EXAMPLES, leads, rid

COLD = str(EXAMPLES / "cold-lead-outreach.toml")


@pytest.mark.parametrize("command", [("records", "list"), ("connect", "Cold lead outreach")])
def test_where_on_an_unknown_column_is_exit_2_naming_it_and_the_known_ones(cli, command):
    cli("sequence", "apply", COLD, "--activate")
    cli.seed(*leads(1, 2))
    err = cli(*command, "--where", "nosuchcol=1", code=2).stderr
    assert "--where nosuchcol=...: no such column" in err
    assert "known: id, name, owner_id, email, phone, statecode, is_open, is_deleted" in err
    assert "companyname" in err  # the mapped extra columns count too


def test_where_on_a_known_column_still_matches(cli):
    cli.seed(*leads(1, 2))
    rows = json.loads(cli("--json", "records", "list", "--where", "name=Lead 2").stdout)
    assert [r["id"] for r in rows] == [rid(2)]


def test_apply_takes_the_whole_examples_folder_as_the_demo_says(cli):
    files = sorted(str(p) for p in EXAMPLES.glob("*.toml"))
    assert len(files) >= 3
    result = cli("--json", "sequence", "apply", *files, "--activate")
    applied = json.loads(result.stdout)
    assert sorted(s["name"] for s in applied) == [
        "Cold lead outreach", "Cold lead, reacting", "Lead nurture", "Opportunity follow-up",
        "Re-engagement"]
    assert {s["status"] for s in applied} == {"active"}


def test_apply_checks_every_file_before_applying_any(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "Broken"\nentity = "lead"\n[[steps]]\ntype = "wait"\ndays = 1\n')
    err = cli("sequence", "apply", COLD, str(bad), code=2).stderr
    assert "bad.toml" in err
    assert json.loads(cli("--json", "sequence", "list").stdout) == []


def test_record_and_step_words_agree_with_their_numbers(cli):
    cli.seed(*leads(1))
    assert cli("records", "list").stdout.startswith("1 record\n")


HELP_PAGES = [(), ("sequence",), ("sequence", "apply"), ("sequence", "add-step"),
              ("records", "list"), ("connect",), ("sync",), ("serve",), ("status",),
              ("doctor",), ("mock-server",), ("demo",), ("walkthrough",)]


@pytest.mark.parametrize("page", HELP_PAGES, ids=lambda p: " ".join(p) or "seqsync")
def test_help_shows_no_python_type_placeholders(page):
    from typer.testing import CliRunner

    from connector.cli.main import app

    result = CliRunner().invoke(app, [*page, "--help"])
    assert result.exit_code == 0, result.output
    for placeholder in ("<bool>", "<str>", "<int>", "<list[", "<path>", "<float>"):
        assert placeholder not in result.stdout, (page, placeholder)


def test_ids_never_wrap_on_an_80_column_terminal():
    import io

    from rich.console import Console

    from connector.cli.output import Output

    out = Output()
    buffer = io.StringIO()
    out.console = Console(file=buffer, width=80, highlight=False)
    ids = [rid(n) for n in range(3)]
    out.emit(None, out.table(["id", "table", "name", "open", "sequence", "current step"],
                             [(i, "opportunity", "A rather long record name " * 2, "yes",
                               "Opportunity follow-up", "1/5 email: Introduction") for i in ids]))
    text = buffer.getvalue()
    assert all(i in text for i in ids), text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_docs_cli_describes_every_command():
    from pathlib import Path

    import typer

    from connector.cli.main import app

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert {"sync", "serve", "status", "doctor", "mock-server", "demo", "walkthrough"} <= set(
        names)
    for name in names:
        if name == "web":
            continue  # documented by its own page
        assert f"| `{name}" in text or f"`{name} " in text, f"docs/cli.md lacks `{name}`"


def test_a_dry_run_summary_does_not_claim_it_created_anything():
    import io
    from datetime import UTC, datetime

    from rich.console import Console

    from connector.cli.output import Output
    from connector.cli.sync_commands import print_report
    from connector.sync.report import RunReport

    report = RunReport(clock=datetime(2026, 3, 2, tzinfo=UTC), dry_run=True, outcome="ok")
    report.count_created("email", 3)
    out = Output()
    buffer = io.StringIO()
    out.console = Console(file=buffer, width=120)
    print_report(out, report, json_line=False)
    text = buffer.getvalue()
    assert "activities that would be created" in text and "3 (email 3)" in text
    assert "activities created" not in text
