"""Fixtures every suite may use: the state database on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import postgres

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """This session's PostgreSQL database (SQLAlchemy URL); never skipped."""
    try:
        with postgres.session_database() as url:
            yield url
    except postgres.NoPostgres as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    postgres.reset(pg_database)
    return pg_database


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty state database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))
