"""A world for end-to-end tests: the mock CRM, a config pointing at it, seqsync in or out of
process.

Shared by tests/sync, tests/chaos, tests/security and tests/hostile (`from support.world import`).
It holds no fixtures on purpose: each folder's conftest builds its own from `make_world`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from connector.app import open_app
from connector.cli.main import app as cli_app
from connector.config import Settings, load_settings
from connector.engine.models import ConnectRequest
from connector.mockserver import MockDataverse
from connector.pipeline.context import Message
from connector.sync.report import RunReport
from connector.sync.run import run_sync

SECRET_ENV = "SEQSYNC_TEST_SECRET"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTIVITY_SETS = ("emails", "phonecalls", "tasks")

# email, two days later a call.
EMAIL_THEN_CALL = """\
name = "{name}"
entity = "{entity}"
[[steps]]
type = "email"
name = "Hello"
description = "First touch"
[[steps]]
type = "wait"
days = 2
[[steps]]
type = "phonecall"
name = "Call"
"""

# email, then a day later a call, then a task: three activity steps, one wait.
THREE_STEPS = """\
name = "{name}"
entity = "{entity}"
[[steps]]
type = "email"
name = "Hello"
description = "First touch"
[[steps]]
type = "wait"
days = 1
[[steps]]
type = "phonecall"
name = "Call"
[[steps]]
type = "task"
name = "Follow up"
"""


@dataclass
class World:
    """One test's world: the mock CRM, a config file and helpers to drive seqsync."""

    crm: MockDataverse
    folder: Path
    config: Path
    state_url: str = ""  # empty: SQLite at state_db

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @property
    def on_postgresql(self) -> bool:
        return self.state_url.startswith("postgresql")

    @property
    def state_db(self) -> Path:
        return self.folder / "state.db"

    def write_config(self, **sections: dict[str, Any]) -> None:
        base: dict[str, dict[str, Any]] = {
            "state": {"url": self.state_url or f"sqlite:///{self.state_db}"},
            "crm": {
                "url": self.crm.url, "tenant_id": self.crm.tenant,
                "client_id": self.crm.client_id, "client_secret_env": SECRET_ENV,
                "authority_host": self.crm.url, "ca_bundle": self.crm.ca_file,
                "token_cache": str(self.folder / "token-cache.json"),
                "max_retry_seconds": 120,
            },
            "log": {"format": "json", "level": "WARNING"},
        }
        for name, values in sections.items():
            base.setdefault(name, {}).update(values)
        lines = []
        for name, values in base.items():
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in values.items())
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def sync(self, now: datetime, **kwargs: Any) -> RunReport:
        return run_sync(self.settings, now=now, **kwargs)

    def cli(self, *args: str, now: datetime | None = None) -> Any:
        extra = ["--now", now.isoformat()] if now else []
        return CliRunner().invoke(cli_app, ["--config", str(self.config), *extra, *args])

    def sequence(self, name: str = "Outreach", entity: str = "lead", text: str = THREE_STEPS
                 ) -> str:
        from connector.sequence_file import load_sequence_file

        path = self.folder / f"{name}.toml"
        path.write_text(text.format(name=name, entity=entity), encoding="utf-8")
        with open_app(self.settings, now=T0) as app:
            seq = app.execute(Message.CREATE, load_sequence_file(path))
            return app.execute(Message.ACTIVATE, seq.id).id

    def connect(self, sequence_id: str, record_ids: list[str]) -> None:
        with open_app(self.settings, now=T0) as app:
            result = app.execute(Message.CONNECT, ConnectRequest(sequence_id, record_ids))
        assert all(o.ok for o in result.outcomes), result.outcomes

    def open_leads(self, n: int | None = None) -> list[str]:
        ids = [str(r["leadid"]) for r in sorted(self.crm.rows("leads"), key=lambda r: r["leadid"])
               if r["statecode"] == 0]
        return ids[:n] if n else ids

    def db(self, table: Any) -> list[Any]:
        engine = create_engine(self.settings.state.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(select(table)))
        finally:
            engine.dispose()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every state table, sorted: compares whole states on both backends."""
        from connector.store.schema import metadata

        return {t.name: sorted(tuple(map(repr, r)) for r in self.db(t))
                for t in metadata.sorted_tables}

    def history(self, record_id: str) -> list[Any]:
        from connector.store.schema import connection_history

        return [r for r in self.db(connection_history) if r.record_id == record_id]

    def activities(self) -> list[dict[str, Any]]:
        return [row for s in ACTIVITY_SETS for row in self.crm.rows(s)]

    def complete(self, entity_set: str, activity_id: str, at: datetime, cancel: bool = False
                 ) -> None:
        codes = {"emails": ((1, 2), (2, 5)), "phonecalls": ((1, 2), (2, 3)),
                 "tasks": ((1, 5), (2, 6))}[entity_set]
        state, status = codes[1] if cancel else codes[0]
        self.crm.update(entity_set, activity_id, {
            "statecode": state, "statuscode": status,
            "actualend": at.isoformat().replace("+00:00", "Z"),
        })

    def subprocess_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[SECRET_ENV] = self.crm.client_secret
        env.pop("SEQSYNC_CONFIG", None)
        return env

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "connector", "--config", str(self.config), *args],
            env=self.subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=self.folder,
        )

    def run_cli(self, *args: str, timeout: float = 120, secret: str | None = None
                ) -> subprocess.CompletedProcess[str]:
        """The real `seqsync` in a subprocess: what cron sees, stdout and stderr apart."""
        env = self.subprocess_env()
        if secret is not None:
            env[SECRET_ENV] = secret
        return subprocess.run(
            [sys.executable, "-m", "connector", "--config", str(self.config), *args],
            env=env, capture_output=True, text=True, cwd=self.folder,
            timeout=timeout, check=False,
        )


@contextmanager
def make_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_url: str = "",
               **mock: Any) -> Iterator[World]:
    with MockDataverse(**mock) as crm:
        monkeypatch.setenv(SECRET_ENV, crm.client_secret)
        monkeypatch.delenv("SEQSYNC_CONFIG", raising=False)
        monkeypatch.chdir(tmp_path)
        world = World(crm, tmp_path, tmp_path / "seqsync.toml", state_url)
        world.write_config()
        yield world


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition"
             ) -> bool:
    """Poll until true; False on timeout (a kill trigger that never fires is not an error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    del what
    return False


def later(minutes: int = 0, days: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, days=days)
