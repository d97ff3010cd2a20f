"""The corpus and its manifest agree, and the generated inputs are what they claim to be."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .cases import CASES, CORPUS, SECRET, Case
from .workspace import (
    BOM,
    HUGE_BYTES,
    binary_garbage,
    huge_config,
    huge_sequence,
    prepare,
    transformed,
)


def test_the_corpus_is_broad() -> None:
    kinds = Counter(case.kind for case in CASES)
    assert len(CASES) >= 40
    assert all(kinds[kind] >= 15 for kind in ("config", "sequence", "mapping")), kinds
    assert {c.make for c in CASES} >= {"binary", "huge", "missing", "directory"}
    assert {c.transform for c in CASES} >= {"bom", "crlf"}


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def test_every_corpus_file_has_a_case_and_every_case_its_file() -> None:
    on_disk = {p.relative_to(CORPUS) for p in CORPUS.rglob("*.toml")}
    used = {c.corpus_file.relative_to(CORPUS) for c in CASES if c.corpus_file is not None}
    assert on_disk == used
    for path in on_disk:
        first = (CORPUS / path).read_text("utf-8").splitlines()[0]
        assert first.startswith("# Broken on purpose: "), f"{path} does not say what is wrong"


def test_every_case_checks_more_than_the_file_name() -> None:
    # Only cases whose whole file is unreadable have no key to name.
    for case in CASES:
        assert case.expect or case.make in ("binary", "directory"), case.id


def test_the_planted_secret_is_in_the_corpus_file_that_leaks_it() -> None:
    text = (CORPUS / "config" / "client_secret_in_file.toml").read_text("utf-8")
    assert f'client_secret = "{SECRET}"' in text


def test_binary_garbage_is_not_text() -> None:
    with pytest.raises(UnicodeDecodeError):
        binary_garbage().decode("utf-8")


def test_huge_inputs_are_megabytes() -> None:
    assert len(huge_config()) >= HUGE_BYTES
    assert len(huge_sequence()) >= HUGE_BYTES // 2


def test_transforms() -> None:
    assert transformed(b"a\nb\r\n", "crlf") == b"a\r\nb\r\n"
    assert transformed(b"a\n", "bom") == BOM + b"a\n"


def test_config_cases_start_without_a_database(tmp_path: Path) -> None:
    case = Case("config", "crm_url_http", ("[crm] url",))
    workspace = prepare(case, tmp_path, tmp_path / "unused.db")
    assert workspace.args == ["--config", "crm_url_http.toml", "sequence", "list"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm_url_http.toml"]
