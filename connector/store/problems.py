"""Problems a sync found that `status` shows until a later sync finds them gone (templates the
CRM does not have), kept in the `sync_state` table as JSON."""

from __future__ import annotations

import json

from sqlalchemy import Connection

from connector.store import state_values

TEMPLATES = "problems:templates"
# Versions ("id@modified_on") of active sequences whose templates were all found.
TEMPLATES_CHECKED = "checked:templates"


def save(db: Connection, key: str, problems: list[str]) -> None:
    state_values.put(db, key, json.dumps(problems))


def load(db: Connection, key: str) -> list[str]:
    text = state_values.get(db, key)
    return [str(p) for p in json.loads(text)] if text else []
