"""Find, read and validate `mappings/*.toml`; every problem is one line naming file and key."""

from __future__ import annotations

import re
import site
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

import connector
from connector.errors import printable
from connector.mapping.activity import ActivityMapping
from connector.mapping.base import Strict
from connector.mapping.errors import MappingError
from connector.mapping.signals import SignalMapping, TemplateMapping
from connector.mapping.target import TargetMapping
from connector.tomlfile import read_toml

# One file per sequence step type that creates a CRM activity; the file's name is the step type.
ACTIVITY_FILES = ("email", "phonecall", "task")
# Optional files: tables whose new rows are buyer signals, read when present.
SIGNAL_FILES = ("appointment",)
DEFAULT_TABLES = ("lead", "opportunity")
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

M = TypeVar("M", bound=Strict)


class Mappings:
    """The loaded target and activity mappings, looked up by table or step type."""

    def __init__(
        self,
        directory: Path,
        targets: dict[str, TargetMapping],
        activities: dict[str, ActivityMapping],
        signal_tables: list[SignalMapping] | None = None,
        template: TemplateMapping | None = None,
    ) -> None:
        self.directory = directory
        self._targets = targets
        self._activities = activities
        self.signal_tables = signal_tables or []  # appointments: meetings booked
        self.template = template  # email templates (template.toml), when the tenant uses them

    @property
    def targets(self) -> list[TargetMapping]:
        return list(self._targets.values())

    @property
    def activities(self) -> list[ActivityMapping]:
        return list(self._activities.values())

    @property
    def sequence_targets(self) -> list[str]:
        """Tables a sequence may be defined for (`sequence_target = true`)."""
        return [t.logical_name for t in self._targets.values() if t.sequence_target]

    def target(self, logical_name: str) -> TargetMapping:
        try:
            return self._targets[logical_name]
        except KeyError:
            loaded = ", ".join(self._targets) or "none"
            raise MappingError(
                f"no mapping loaded for table {logical_name!r} (loaded: {loaded}); "
                "add it to [sync] tables"
            ) from None

    def activity(self, step_type: str) -> ActivityMapping:
        key = str(step_type)
        try:
            return self._activities[key]
        except KeyError:
            raise MappingError(
                f"no activity mapping for step type {key!r} "
                f"(one of: {', '.join(self._activities)})"
            ) from None

    def activity_for_table(self, logical_name: str) -> ActivityMapping:
        """The activity mapping whose CRM table is `logical_name` (for rows read back)."""
        for mapping in self._activities.values():
            if mapping.logical_name == logical_name:
                return mapping
        raise MappingError(f"no activity mapping for table {logical_name!r}")


def default_directory() -> Path:
    """The shipped `mappings/`: beside the package (checkout, editable), else installed data."""
    package = Path(connector.__file__).resolve().parent
    candidates = [
        package.parent / "mappings",
        package / "mappings",
        Path(sys.prefix) / "share" / "seqsync" / "mappings",
        Path(site.getuserbase()) / "share" / "seqsync" / "mappings",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise MappingError(f"no mappings directory found (looked in {tried}); set [sync] mappings_dir")


def load_mappings(
    directory: Path | str | None = None, tables: Iterable[str] = DEFAULT_TABLES
) -> Mappings:
    """Load the target tables named in `tables` plus the activity mappings, and cross-check them."""
    folder = Path(directory) if directory is not None else default_directory()
    if not folder.is_dir():
        raise MappingError(f"{folder}: mappings directory not found ([sync] mappings_dir)")
    if isinstance(tables, str):  # a lone name, not its letters
        tables = [tables]
    targets: dict[str, TargetMapping] = {}
    for table in dict.fromkeys(tables):
        if not _TABLE_NAME.match(table):
            raise MappingError(f"[sync] tables: {table!r} is not a table logical name")
        if table in ACTIVITY_FILES:
            raise MappingError(
                f"[sync] tables: {table!r} is an activity table; list tables to mirror "
                "(lead, opportunity or your own) there"
            )
        path = folder / f"{table}.toml"
        mapping = _load(path, TargetMapping, f"table {table!r} is listed in [sync] tables")
        if mapping.logical_name != table:
            raise MappingError(
                f"{path}: logical_name: must be {table!r}, the file's name "
                f"(got {mapping.logical_name!r})"
            )
        targets[table] = mapping
    activities: dict[str, ActivityMapping] = {}
    for step_type in ACTIVITY_FILES:
        path = folder / f"{step_type}.toml"
        mapping = _load(path, ActivityMapping, f"it maps {step_type} steps")
        for target in targets.values():
            if target.sequence_target and target.logical_name not in mapping.regarding:
                raise MappingError(
                    f"{path}: [regarding] {target.logical_name}: missing; needed because "
                    f"{target.logical_name}.toml has sequence_target = true"
                )
        mapping.bind(targets, str(path))
        activities[step_type] = mapping
    signal_tables = [
        _load(folder / f"{name}.toml", SignalMapping, "it maps buyer signals")
        for name in SIGNAL_FILES if (folder / f"{name}.toml").is_file()
    ]
    template = (_load(folder / "template.toml", TemplateMapping, "it maps email templates")
                if (folder / "template.toml").is_file() else None)
    return Mappings(folder, targets, activities, signal_tables, template)


def load_for_settings(settings: Any) -> Mappings:
    """Mappings for a `connector.config.Settings`: `[sync] mappings_dir` and `[sync] tables`."""
    try:
        return load_mappings(settings.sync.mappings_dir, settings.sync.tables)
    except MappingError as exc:
        if str(exc).startswith("[sync]"):  # a config problem: name the config file too
            raise MappingError(f"{settings.source}: {exc}") from None
        raise


def _load(path: Path, model: type[M], why: str) -> M:
    data = read_toml(path, "mapping", MappingError, why)
    try:
        mapping = model.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_describe(exc, path, data)) from None
    problem = mapping.problem()  # type: ignore[attr-defined]
    if problem:
        key, message = problem
        raise MappingError(f"{path}: {key}: {message}")
    return mapping


_PATTERN_HINTS = {
    "^[a-z_][a-z0-9_]*$": "must be a Dataverse logical name (lower-case letters, digits, _)",
    "^[A-Za-z_][A-Za-z0-9_]*$": "must be a Web API name (letters, digits, _)",
}


def _describe(exc: ValidationError, path: Path, data: dict[str, Any]) -> str:
    errors = exc.errors()
    # A misspelt key shows up as "unknown" plus "missing": the unknown one says what to fix.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [printable(str(p)) for p in err["loc"] if p != "[key]"]
    if not loc:
        key = "(top level)"
    elif len(loc) == 1:
        key = loc[0]
    elif isinstance(data.get(loc[0]), list):
        key = f"{loc[0]}[{'.'.join(loc[1:])}]"
    else:
        key = f"[{loc[0]}] {'.'.join(loc[1:])}"
    kind = err["type"]
    if kind == "extra_forbidden":
        what = "unknown key"
    elif kind == "missing":
        what = "required key is missing"
    elif kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        what = f"{_PATTERN_HINTS.get(pattern, err['msg'])} (got {err['input']!r})"
    else:
        what = str(err["msg"]).removeprefix("Value error, ")
        if not isinstance(err.get("input"), dict | list):
            what += f" (got {err['input']!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {key}: {what}{more}"
