"""Reading the TOML files people write (config, mappings, sequences), with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from connector.errors import InvalidInput


def read_toml(
    path: Path, kind: str, error: type[InvalidInput] = InvalidInput, why: str = ""
) -> dict[str, Any]:
    """The file's table, or `error` naming the file: missing, unreadable, not UTF-8, bad TOML.

    `kind` names the file in messages ("config", "mapping"); `why` says why it was wanted.
    """
    reason = f" ({why})" if why else ""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {kind} file not found{reason}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {kind} file: {exc.strerror}") from None
    try:
        # utf-8-sig: a byte-order mark, as some Windows editors write it, is not content.
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise error(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML: {exc}") from None
