"""Problems a sync found that `status` shows until a later sync finds them gone (templates the
CRM does not have), kept in the `sync_state` table as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Connection, select, update

from connector.store.schema import sync_state

TEMPLATES = "problems:templates"
# Versions ("id@modified_on") of active sequences whose templates were all found.
TEMPLATES_CHECKED = "checked:templates"


def save(db: Connection, key: str, problems: list[str]) -> None:
    now = datetime.now(UTC)
    text = json.dumps(problems)
    done = db.execute(
        update(sync_state).where(sync_state.c.key == key).values(value=text, updated_on=now)
    ).rowcount
    if not done:
        db.execute(sync_state.insert().values(key=key, value=text, updated_on=now))


def load(db: Connection, key: str) -> list[str]:
    text = db.execute(select(sync_state.c.value).where(sync_state.c.key == key)).scalar()
    return [str(p) for p in json.loads(text)] if text else []
