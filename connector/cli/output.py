"""How commands print: Rich tables on a terminal, plain tables in a pipe, JSON with --json.

Commands build one JSON-able value and, for people, a table or a few lines; `Output.emit`
picks. The lead's sync and mock-server commands use the same helpers.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table

from connector.labels import when as when  # commands format times with these
from connector.labels import when_text as when_text


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes and mappings as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class Output:
    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        terminal = sys.stdout.isatty()
        # In a pipe, no colours and a wide page, so ids are never wrapped.
        self.console = Console(
            highlight=False, soft_wrap=not terminal, width=None if terminal else 200
        )

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
    ) -> Table:
        table = Table(title=title, title_justify="left", show_lines=False)
        cells = [["-" if cell is None or cell == "" else str(cell) for cell in row]
                 for row in rows]
        for index, column in enumerate(columns):
            # An id folded over two lines cannot be copied: ids keep their width, the other
            # columns give way on a narrow terminal.
            is_id = any(index < len(row) and _GUID.fullmatch(row[index]) for row in cells)
            if is_id:
                table.add_column(column, no_wrap=True, min_width=36)
            else:
                table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*row)
        return table

    def emit(self, data: Any, *human: Table | str) -> None:
        """Print `data` as JSON in --json mode, otherwise the tables and lines in `human`."""
        if self.json_mode:
            print(json.dumps(jsonable(data), indent=2, ensure_ascii=False))
            return
        for part in human:
            self.console.print(part)

    def note(self, text: str) -> None:
        """A line for people only (never mixed into JSON output)."""
        if not self.json_mode:
            self.console.print(text)
