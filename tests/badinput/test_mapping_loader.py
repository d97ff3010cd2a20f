"""The mapping cases straight through `load_mappings`, without the CLI or a sync run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from connector.mapping import MappingError, load_mappings

from .cases import MAPPING_CASES, Case
from .workspace import patch_mappings


@pytest.mark.parametrize("case", MAPPING_CASES, ids=lambda case: case.id)
def test_loader_names_file_and_key(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mappings"
    patch_mappings(case, folder)
    monkeypatch.chdir(tmp_path)
    sync = tomllib.loads("".join(f"{k} = {v}\n" for k, v in case.sync_keys.items()))
    with pytest.raises(MappingError) as raised:
        load_mappings(sync.get("mappings_dir", folder), sync.get("tables", ["lead", "opportunity"]))
    message = str(raised.value)
    assert "\n" not in message
    for wanted in (case.file_name, *case.expect):
        assert wanted in message, f"{wanted!r} not in {message!r}"


def test_the_unpatched_copy_loads(tmp_path: Path) -> None:
    # Guards the cases above: each must fail because of its patch, not because of the copy.
    folder = tmp_path / "mappings"
    patch_mappings(Case("mapping", "unchanged", ()), folder)
    mappings = load_mappings(folder)
    assert mappings.sequence_targets == ["lead", "opportunity"]
