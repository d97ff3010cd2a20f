"""Logging for people (text on a terminal) and for machines (JSON lines everywhere else).

A redaction filter scrubs every registered secret and anything that looks like a bearer token
from every record, as a second line of defence: code should never log secrets in the first place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_secrets: set[str] = set()
_secrets_lock = threading.Lock()

# Attributes every LogRecord has; anything else passed via `extra=` goes into the JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def register_secret(value: str | None) -> None:
    """Never print this value again, whoever tries to log it."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    text = _BEARER.sub(r"\1[redacted]", text)
    text = _JWT.sub("[redacted-token]", text)
    with _secrets_lock:  # push workers log while the main thread may register a secret
        secrets = tuple(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def _ts(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def json_line(level: str, logger: str, msg: str, **fields: Any) -> str:
    """One JSON line shaped like the log lines (ts, level, logger, msg, then fields),
    redacted: for what commands print themselves under a scheduler (summaries, errors)."""
    line = {"ts": _ts(time.time()), "level": level, "logger": logger, "msg": msg, **fields}
    return redact(json.dumps(line, default=str, ensure_ascii=False))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _ts(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = redact(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
        return redact(json.dumps(line, default=str))


def choose_format(fmt: str) -> Literal["json", "text"]:
    """`auto`: text for a person at a terminal, JSON for cron, systemd and Kubernetes."""
    if fmt in ("json", "text"):
        return fmt  # type: ignore[return-value]
    return "text" if sys.stderr.isatty() else "json"


def configure_logging(fmt: Literal["auto", "json", "text"], level: str) -> str:
    """Set up the root seqsync logger; returns the format chosen ("json" or "text")."""
    chosen = choose_format(fmt)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if chosen == "json":
        handler.setFormatter(JsonFormatter())
    else:
        # A date and the offset: text logs end up in files read days later.
        text = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s",
                                 "%Y-%m-%d %H:%M:%S%z")
        handler.setFormatter(text)
    root = logging.getLogger("seqsync")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    return chosen
