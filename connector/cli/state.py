"""The global options of one `seqsync` invocation and the App they lead to."""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from connector.app import App, open_app
from connector.cli.output import Output
from connector.config import Settings, load_settings
from connector.errors import InvalidInput, SeqsyncError
from connector.logs import configure_logging


def parse_now(value: str | None, option: str = "--now",
              expected: str = "an ISO 8601 time") -> datetime | None:
    """--now (or another time option) as ISO 8601; a time without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{option} {value!r}: expected {expected}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class CliState:
    config: Path | None = None
    json: bool = False
    now: datetime | None = None
    log_format: str = "text"  # "json" once a scheduler command chose it: errors follow suit
    _settings: Settings | None = field(default=None, repr=False)
    _app: App | None = field(default=None, repr=False)

    @property
    def out(self) -> Output:
        return Output(self.json)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def app(self) -> App:
        """The opened App (migrated database, plugins loaded), closed when the command ends."""
        if self._app is None:
            self._app = open_app(self.settings, now=self.now)
        return self._app

    def start_logging(self) -> str:
        """Log as `[log]` says (the scheduler commands); with a config that cannot be read,
        as SEQSYNC_LOG__FORMAT or auto says, so even that error line is JSON under cron."""
        try:
            settings = self.settings
        except SeqsyncError:
            self.log_format = configure_logging(_env_format(), "INFO")
            raise
        self.log_format = configure_logging(settings.log.format, settings.log.level)
        return self.log_format

    @property
    def zone(self) -> ZoneInfo:
        """[display] timezone, for times shown to people."""
        return ZoneInfo(self.settings.display.timezone)

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


def _env_format() -> Literal["auto", "json", "text"]:
    value = os.environ.get("SEQSYNC_LOG__FORMAT", "auto").strip().lower()
    return value if value in ("json", "text") else "auto"  # type: ignore[return-value]


_current: ContextVar[CliState | None] = ContextVar("seqsync_cli_state", default=None)


def set_state(state: CliState) -> None:
    _current.set(state)


def get_state() -> CliState:
    """The CliState of the running command (for command modules, including the lead's):
    `.settings`, `.app()`, `.out` (Output), `.now` / `.clock()`, `.json`."""
    state = _current.get()
    if state is None:
        state = CliState()
        _current.set(state)
    return state
