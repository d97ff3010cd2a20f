"""The application: the store, the pipeline and its plugins. The CLI and sync go through it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.config import Settings
from connector.errors import InvalidInput, SeqsyncError, StateError
from connector.pipeline import operations, rules
from connector.pipeline.context import Message, PluginStep
from connector.pipeline.loading import as_steps, load_user_plugins
from connector.pipeline.pipeline import Pipeline
from connector.pipeline.results import StepDueResult
from connector.plugins.business_hours import BusinessHours
from connector.store import connections as conn_store
from connector.store.copy import CopiedTable, copy_state
from connector.store.db import PoolOptions, Store, open_store
from connector.store.planning import plan_due_slice


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


def _plugin_steps(settings: Settings) -> list[PluginStep]:
    steps = list(rules.BUILT_IN)
    if settings.plugins.business_hours.enabled:
        steps += as_steps(BusinessHours, settings, "[plugins.business_hours]")
    return steps + load_user_plugins(settings)


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
    pipeline = Pipeline(store, settings)
    operations.install(pipeline)
    pipeline.register(*steps)
    return App(settings, store, pipeline, now)


# Due connections planned per transaction. Each planned connection touches entries spread
# over GUID-keyed indexes; the bigger the transaction, the more of them share a page written
# at commit (measured on 1M due: ~220 us per connection at 5,000 a commit, ~170 at 20,000).
PLAN_TRANSACTION_ROWS = 20_000


# Due activity steps planned set-based per transaction (store.planning). On SQLite each
# commit writes every index page the slice touched, and GUID keys touch pages all over: the
# bigger the slice, the fewer times each page is written (1M due: 20,000 a slice 145 s,
# 100,000 a slice 81 s on a loaded 2-core machine). On PostgreSQL slices are what workers
# share, so they stay smaller.
PLAN_SLICE_ROWS = {"sqlite": 100_000, "postgresql": 20_000}


def plan_due_batches(
    app: App, now: datetime, batch_size: int = 5000
) -> Iterator[StepDueResult]:
    """Plan every due step. Results are yielded once their transaction has committed.

    With no plugin on StepDue, the common case (a due email, phone call or task of an active
    sequence) is planned set-based by the database, a slice per transaction. What remains (due
    waits, lost steps, or everything when a plugin watches StepDue) is read page by page
    (keyset on id, active sequences only) and goes through one StepDue message per page of
    `batch_size`, several pages a transaction (PLAN_TRANSACTION_ROWS)."""
    if now.tzinfo is None:
        raise InvalidInput(f"now={now.isoformat()} has no time zone")
    if not app.pipeline.watched(Message.STEP_DUE):
        slice_rows = PLAN_SLICE_ROWS.get(app.store.dialect, 20_000)
        while True:
            with app.store.begin() as db:
                planned = plan_due_slice(db, now, slice_rows)
            if planned:
                yield StepDueResult(connections=planned, planned=planned)
            if planned < slice_rows:
                break
    after = ""
    with app.store.begin() as db:
        # Past a few pages, sorting the due rows per page costs more than walking the ids.
        walk_ids = conn_store.due_count(db, now) > 4 * batch_size
    pages_per_transaction = max(1, PLAN_TRANSACTION_ROWS // max(1, batch_size))
    while True:
        results: list[StepDueResult] = []
        # Pages are read in the message's own transaction: StepDue then trusts those rows
        # instead of reading them a second time.
        with app.pipeline.transaction() as tx:
            assert tx.db is not None
            for _ in range(pages_per_transaction):
                page = conn_store.due_page(tx.db, now, after, batch_size, walk_ids=walk_ids)
                if not page:
                    break
                after = page[-1].id
                results.append(tx.execute(Message.STEP_DUE, page, now=now))
        yield from results
        if len(results) < pages_per_transaction:
            return


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
