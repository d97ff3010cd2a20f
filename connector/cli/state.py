"""The global options of one `seqsync` invocation and the App they lead to."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connector.app import App, open_app
from connector.cli.output import Output
from connector.config import Settings, load_settings
from connector.errors import InvalidInput


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

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


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
