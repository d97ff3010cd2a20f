"""The application: the store, the pipeline and its plugins. The CLI and sync go through it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.config import Settings
from connector.engine.models import TableColumns
from connector.errors import InvalidInput, SeqsyncError, StateError
from connector.mapping import load_for_settings
from connector.pipeline import operations, rules
from connector.pipeline.context import Message, PluginStep
from connector.pipeline.loading import as_steps, load_user_plugins
from connector.pipeline.pacing import PacingRule
from connector.pipeline.pipeline import Pipeline
from connector.pipeline.results import StepDueResult
from connector.plugins.business_hours import BusinessHours
from connector.store import connections as conn_store
from connector.store.db import Store, open_store


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


def _plugin_steps(settings: Settings) -> list[PluginStep]:
    steps = [*rules.BUILT_IN, *PacingRule(settings).steps()]
    if settings.plugins.business_hours.enabled:
        steps += as_steps(BusinessHours, settings, "[plugins.business_hours]")
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
        store = open_store(settings.state.url)
    except SeqsyncError as exc:
        text = str(exc)
        if text.startswith("[") and settings.source != "defaults":
            raise type(exc)(f"{settings.source}: {text}") from None
        raise
    pipeline = Pipeline(store, settings, _columns_loader(settings))
    operations.install(pipeline)
    pipeline.register(*steps)
    return App(settings, store, pipeline, now)


# Due connections planned per transaction. Each planned connection touches entries spread
# over GUID-keyed indexes; the bigger the transaction, the more of them share a page written
# at commit (measured on 1M due: ~220 us per connection at 5,000 a commit, ~170 at 20,000).
PLAN_TRANSACTION_ROWS = 20_000


def plan_due_batches(
    app: App, now: datetime, batch_size: int = 5000
) -> Iterator[StepDueResult]:
    """Plan every due step: reads due connections page by page (keyset on id, active
    sequences only) and runs one StepDue message per page of `batch_size`, several pages a
    transaction (PLAN_TRANSACTION_ROWS). Results are yielded once their transaction has
    committed."""
    if now.tzinfo is None:
        raise InvalidInput(f"now={now.isoformat()} has no time zone")
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
