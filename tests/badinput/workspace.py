"""Build a throw-away working directory for one bad-input case, run it, and judge the result."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from connector.cli.main import app as cli_app
from connector.mapping import default_directory

from .cases import SECRET, Case

# A closed port on loopback: nothing is listening, and nothing leaves the machine.
FAKE_CRM = "https://127.0.0.1:9"
STATE_DB = "state.db"
RUN_CONFIG = "run.toml"
HUGE_BYTES = 8 * 1024 * 1024
BOM = b"\xef\xbb\xbf"


@dataclass
class Workspace:
    root: Path
    args: list[str]
    env: dict[str, str | None]  # None unsets a variable


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    crash: str | None = None  # an exception that escaped the CLI, formatted


def _table(keys: dict[str, str | None]) -> str:
    return "".join(f"{key} = {value}\n" for key, value in keys.items() if value is not None)


def run_config(
    root: Path,
    sync_keys: dict[str, str] | None = None,
    crm_keys: dict[str, str | None] | None = None,
) -> str:
    """A valid config: state in `root`, a CRM that is never reached, the copied mappings."""
    crm: dict[str, str | None] = {
        "url": f'"{FAKE_CRM}"',
        "authority_host": f'"{FAKE_CRM}"',
        "tenant_id": '"00000000-0000-0000-0000-000000000000"',
        "client_id": '"11111111-1111-1111-1111-111111111111"',
        **(crm_keys or {}),
    }
    sync: dict[str, str | None] = {"mappings_dir": f"'{root / 'mappings'}'", **(sync_keys or {})}
    return (
        f"[state]\nurl = 'sqlite:///{root / STATE_DB}'\n\n"
        f"[crm]\n{_table(crm)}\n[sync]\n{_table(sync)}"
    )


def base_env() -> dict[str, str | None]:
    """No SEQSYNC_* setting from the caller's shell, plus the planted secret."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SEQSYNC_")}
    env["SEQSYNC_CLIENT_SECRET"] = SECRET
    return env


# --- generated inputs -------------------------------------------------------------------------

def binary_garbage() -> bytes:
    # 0xFF can never start a UTF-8 sequence, so the decoder fails on the first byte.
    return b"\xff\xfe\x00" + random.Random(6).randbytes(64 * 1024)


def _padding(target: int) -> str:
    line = "# padding " + "x" * 89 + "\n"
    return line * (target // len(line))


def huge_config() -> str:
    return ("# Broken on purpose: megabytes of comments, then a zero page size.\n"
            + _padding(HUGE_BYTES) + "[sync]\npage_size = 0\n")


def huge_sequence() -> str:
    pairs = "".join(
        f'[[steps]]\ntype = "email"\nname = "Touch {n}"\n\n'
        '[[steps]]\ntype = "wait"\ndays = 1\n\n'
        for n in range(1, 5001)
    )
    return (
        "# Broken on purpose: 10,000 good steps, then step 10001 uses an unknown key.\n"
        + _padding(HUGE_BYTES // 2)
        + 'name = "Huge outreach"\nentity = "lead"\n\n'
        + pairs
        + '[[steps]]\ntype = "email"\nsubject = "Last touch"\n'
    )


def huge_lead_mapping(text: str) -> str:
    anchor = 'companyname = "string"\n'
    columns = "".join(f'new_column_{n:05d} = "string"\n' for n in range(1, 20000))
    assert anchor in text, "lead.toml no longer declares companyname"
    return text.replace(anchor, anchor + columns + "new_column_20000 = 5\n", 1)


def transformed(data: bytes, transform: str | None) -> bytes:
    if transform == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if transform == "bom":
        return BOM + data
    return data


# --- workspaces -------------------------------------------------------------------------------

def _write_input(case: Case, path: Path) -> None:
    """The file under test at `path`, from the corpus or generated."""
    if case.make == "missing":
        return
    if case.make == "directory":
        path.mkdir()
        return
    if case.make == "binary":
        path.write_bytes(binary_garbage())
        return
    if case.make == "huge":
        path.write_text(huge_config() if case.kind == "config" else huge_sequence(), "utf-8")
        return
    assert case.corpus_file is not None
    path.write_bytes(transformed(case.corpus_file.read_bytes(), case.transform))


def patch_mappings(case: Case, folder: Path) -> None:
    shutil.copytree(default_directory(), folder)
    if case.patch is not None:
        name, old, new = case.patch
        target = folder / name
        if new is None:
            target.unlink()
        else:
            text = target.read_text("utf-8")
            assert old in text, f"{case.id}: {old!r} is no longer in mappings/{name}"
            target.write_text(text.replace(old, new, 1), "utf-8")
    if case.make == "binary":
        (folder / case.file_name).write_bytes(binary_garbage())
    elif case.make == "huge":
        target = folder / case.file_name
        target.write_text(huge_lead_mapping(target.read_text("utf-8")), "utf-8")
    if case.transform is not None:
        target = folder / case.file_name
        target.write_bytes(transformed(target.read_bytes(), case.transform))


def prepare(case: Case, root: Path, seeded_db: Path) -> Workspace:
    """Lay out `root` for `case` and return the command line and environment to run."""
    env = base_env() | case.env
    if case.kind == "config":
        _write_input(case, root / case.file_name)
        if case.via_env:
            env["SEQSYNC_CONFIG"] = case.file_name
            return Workspace(root, ["sequence", "list", *case.args], env)
        return Workspace(root, ["--config", case.file_name, "sequence", "list", *case.args], env)
    for suffix in ("", "-wal"):
        if Path(f"{seeded_db}{suffix}").exists():
            shutil.copyfile(f"{seeded_db}{suffix}", root / f"{STATE_DB}{suffix}")
    (root / RUN_CONFIG).write_text(run_config(root, case.sync_keys, case.crm_keys), "utf-8")
    env["SEQSYNC_CONFIG"] = str(root / RUN_CONFIG)
    if case.kind == "sequence":
        _write_input(case, root / case.file_name)
        return Workspace(root, ["sequence", "apply", case.file_name, *case.args], env)
    patch_mappings(case, root / "mappings")
    return Workspace(root, ["sync", *case.args], env)


# --- running ----------------------------------------------------------------------------------

def run_in_process(ws: Workspace) -> Outcome:
    """Through Typer's runner: the real command tree and error handler, without a new Python.
    The caller must have made `ws.root` the working directory."""
    result = CliRunner().invoke(cli_app, ws.args, env=ws.env)
    crash = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(result.exception))
    return Outcome(result.exit_code, result.stdout, result.stderr, crash)


def run_subprocess(ws: Workspace) -> Outcome:
    """Exactly as a user would: `python -m connector ...` in the workspace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQSYNC_")}
    env.update({k: v for k, v in ws.env.items() if v is not None})
    proc = subprocess.run(
        [sys.executable, "-m", "connector", *ws.args],
        cwd=ws.root, env=env, capture_output=True, timeout=120, check=False,
    )
    return Outcome(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


# --- judging ----------------------------------------------------------------------------------

def dump_database(path: Path) -> dict[str, list[str]]:
    """Every row of every table, in a stable order."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{n}"'))
                for n in names}
    finally:
        conn.close()


def _side_file(path: Path) -> bool:
    # SQLite's journals come and go with any connection; a lock file may outlive a run.
    return path.name.endswith(("-wal", "-shm", "-journal", ".lock"))


def snapshot(root: Path) -> dict[str, Any]:
    """Databases by content, every other file by hash."""
    files: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or _side_file(path):
            continue
        key = str(path.relative_to(root))
        if path.suffix == ".db":
            files[key] = dump_database(path)
        else:
            files[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    problems = [f"created {name}" for name in sorted(after.keys() - before.keys())]
    problems += [f"deleted {name}" for name in sorted(before.keys() - after.keys())]
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            tables = sorted(t for t in old.keys() | new.keys() if old.get(t) != new.get(t))
            problems.append(f"changed {name} (tables: {', '.join(tables)})")
        else:
            problems.append(f"changed {name}")
    return problems


def judge(case: Case, outcome: Outcome, changes: list[str]) -> list[str]:
    """Everything wrong with how the CLI handled `case`; empty when it behaved."""
    problems: list[str] = []
    if outcome.crash is not None:
        problems.append(f"an exception escaped the CLI:\n{outcome.crash}")
    if "Traceback" in outcome.stderr or "Traceback" in outcome.stdout:
        problems.append("a traceback was printed")
    if outcome.exit_code != 2:
        problems.append(f"exit code {outcome.exit_code}, expected 2")
    lines = outcome.stderr.splitlines()
    if len(lines) != 1 or not lines[0].strip():
        problems.append(f"stderr has {len(lines)} lines, expected exactly one non-empty line")
    line = lines[0] if lines else ""
    for wanted in (case.file_name, *case.expect):
        if wanted not in line:
            problems.append(f"the error line does not name {wanted!r}")
    if SECRET in outcome.stdout or SECRET in outcome.stderr:
        problems.append("the client secret was printed")
    problems += [f"state: {change}" for change in changes]
    if problems:
        shown = outcome.stderr if len(outcome.stderr) < 3000 else outcome.stderr[:3000] + "..."
        problems.append(f"stderr was:\n{shown}")
    return problems
