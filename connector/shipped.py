"""Folders of data that ship with seqsync (`mappings/`, `examples/sequences/`).

In a checkout or an editable install they sit beside the package; a normal `pip install`
puts them under `<prefix>/share/seqsync/` (the `data-files` of pyproject.toml).
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

import connector
from connector.errors import InvalidInput


def candidates(*parts: str) -> list[Path]:
    package = Path(connector.__file__).resolve().parent
    return [
        package.parent.joinpath(*parts),
        package.joinpath(*parts),
        Path(sys.prefix, "share", "seqsync", *parts),
        Path(site.getuserbase(), "share", "seqsync", *parts),
    ]


def shipped_directory(*parts: str) -> Path | None:
    """The first existing folder of that name, or None (the caller names what it tried)."""
    return next((c for c in candidates(*parts) if c.is_dir()), None)


def examples_directory() -> Path:
    """The example sequence files; a fresh checkout and every install have them."""
    found = shipped_directory("examples", "sequences")
    if found is None:
        tried = ", ".join(str(c) for c in candidates("examples", "sequences"))
        raise InvalidInput(f"the example sequences are not installed (looked in {tried})")
    return found
