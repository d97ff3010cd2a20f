"""Deterministic activity ids without building a uuid.UUID per id.

`activity_id_for` (models.py) is `str(uuid5(...))`; planning calls it once per due activity and
the UUID object alone was a visible share of that. This is the same RFC 4122 version-5
computation done on bytes, so the text is byte-identical (tests compare the two).
"""

from __future__ import annotations

import hashlib

from connector.engine.models import ACTIVITY_NAMESPACE

_PREFIX = hashlib.sha1(ACTIVITY_NAMESPACE.bytes, usedforsecurity=False)


def activity_id(connection_id: str, step_id: str, attempt: int = 0) -> str:
    """The same string as `activity_id_for(connection_id, step_id, attempt)`."""
    digest = _PREFIX.copy()
    digest.update(f"{connection_id}:{step_id}:{attempt}".encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
