"""The application: the store, the pipeline and its plugins. The CLI and sync go through it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.config import Settings
from connector.engine.models import TableColumns
from connector.errors import InvalidInput, SeqsyncError, StateError
from connector.mapping import load_for_settings
from connector.pipeline import operations, rules, segments
from connector.pipeline.context import Message, PluginStep
from connector.pipeline.loading import load_path, load_user_plugins
from connector.pipeline.pacing import PacingRule
from connector.pipeline.pipeline import Pipeline
from connector.store.copy import CopiedTable, copy_state
from connector.store.db import PoolOptions, Store, open_store


class App:
    """One opened state database with its pipeline. Use as a context manager or call close()."""

    def __init__(self, settings: Settings, store: Store, pipeline: Pipeline,
                 now: datetime | None = None) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self._now = now

    def now(self) -> datetime:
        """The clock: the `now` given to open_app (tests, --now), else the wall clock."""
        return self._now or datetime.now(UTC)

    def execute(
        self,
        message: Message | str,
        target: Any,
        *,
        now: datetime | None = None,
        table: str | None = None,
        user: str | None = None,
        correlation_id: str | None = None,
    ) -> Any:
        """Run one message as one transaction; returns the message's result object."""
        when = now or self.now()
        if when.tzinfo is None:
            raise InvalidInput(f"now={when.isoformat()} has no time zone")
        return self.pipeline.execute(
            message, target, now=when, table=table, user=user, correlation_id=correlation_id
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sqlite_dir(url: str) -> None:
    # A SQLite file in a directory that does not exist yet: create the directory.
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"[state] url: cannot create the folder {str(folder)!r}: {exc.strerror}"
            ) from None


def _pool(settings: Settings) -> PoolOptions:
    state = settings.state
    return PoolOptions(state.pool_size, state.max_overflow, state.pool_timeout,
                       state.connect_timeout)


BUSINESS_HOURS = "connector.plugins.business_hours:BusinessHours"


def _plugin_steps(settings: Settings) -> list[PluginStep]:
    steps = [*rules.BUILT_IN, *segments.RULES, *PacingRule(settings).steps()]
    if settings.plugins.business_hours.enabled:
        # Loaded like any user plugin: the core does not depend on the example.
        steps += load_path(BUSINESS_HOURS, settings)
    return steps + load_user_plugins(settings)


def _columns_loader(settings: Settings) -> Callable[[str], TableColumns | None]:
    """Target tables' mapped columns, read from the mappings when first needed (most
    commands never need them, and a broken mapping should only stop those that do)."""
    loaded: dict[str, TableColumns] = {}

    def columns_of(table: str) -> TableColumns | None:
        if not loaded:
            loaded.update(
                (m.logical_name, m.table_columns()) for m in load_for_settings(settings).targets
            )
        return loaded.get(table)

    return columns_of


def open_app(settings: Settings, *, now: datetime | None = None) -> App:
    """Open (and migrate) the state database, and build the pipeline with every plugin.

    Configuration mistakes (plugins, [state] url) are refused before the database is touched,
    with the config file's name in front of the message.
    """
    try:
        steps = _plugin_steps(settings)
        _sqlite_dir(settings.state.url)
        store = open_store(settings.state.url, _pool(settings))
    except SeqsyncError as exc:
        text = str(exc)
        if text.startswith("[") and settings.source != "defaults":
            raise type(exc)(f"{settings.source}: {text}") from None
        raise
    pipeline = Pipeline(store, settings, _columns_loader(settings))
    operations.install(pipeline)
    pipeline.register(*steps)
    return App(settings, store, pipeline, now)


def copy_state_to(settings: Settings, to_url: str, *, migrate_source: bool = True
                  ) -> list[CopiedTable]:
    """Copy this configuration's state into the empty database at `to_url` (migrated first),
    verifying every table's count. The source is brought to the newest schema first unless
    `migrate_source` is false (a dry run's copy, which must write nothing)."""
    source = open_store(settings.state.url, _pool(settings)) if migrate_source else Store(
        settings.state.url, _pool(settings))
    try:
        target = open_store(to_url)
        try:
            if not migrate_source and source.revision() is None:
                return []  # nothing there yet: the empty, migrated target is the copy
            return copy_state(source, target)
        finally:
            target.close()
    finally:
        source.close()
