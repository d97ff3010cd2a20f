"""`seqsync doctor`: the set-up checklist, one line per check; exit 0 only if all pass."""

from __future__ import annotations

import json

import typer

from connector.cli.state import get_state
from connector.config import ConfigError
from connector.doctor import Check, run_doctor
from connector.errors import EXIT_INVALID, EXIT_OK, EXIT_PARTIAL

MARKS = {"ok": "[green]ok  [/]", "fail": "[red]FAIL[/]", "skip": "[yellow]skip[/]"}


def doctor_command() -> None:
    """Check config, CA, credential, token, WhoAmI, clock, table access and change tracking,
    and the state database. Exit 0 only if every check passes (--json: one JSON line)."""
    state = get_state()
    try:
        state.start_logging()
        settings = state.settings
    except ConfigError as exc:
        checks = [Check("config", "fail", str(exc))]
        code = EXIT_INVALID
    else:
        # A doctor answers in seconds: a CRM that does not answer is the finding.
        quick = settings.model_copy(deep=True)
        quick.crm.max_retries = min(quick.crm.max_retries, 1)
        quick.crm.max_retry_seconds = min(quick.crm.max_retry_seconds, 10.0)
        quick._source = settings.source
        checks = run_doctor(quick)
        code = EXIT_OK if all(c.ok for c in checks) else EXIT_PARTIAL
    out = state.out
    if out.json_mode:
        print(json.dumps({"ok": code == EXIT_OK,
                          "checks": [{"name": c.name, "status": c.status, "detail": c.detail}
                                     for c in checks]}, ensure_ascii=False))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            out.console.print(f"{MARKS[check.status]}  {check.name:<{width}}  {check.detail}",
                              markup=True, highlight=False, soft_wrap=True)
        failed = sum(1 for c in checks if not c.ok)
        out.console.print("all checks passed" if not failed else
                          f"{failed} of {len(checks)} checks did not pass")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
