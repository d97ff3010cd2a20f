"""Fixtures for mapping tests: a private copy of the shipped mappings and sample rows."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from mapping_samples import CONTACT_ID, LEAD_ID, OPP_ID, OWNER_ID

from connector.mapping import default_directory


@pytest.fixture
def mapping_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mappings"
    shutil.copytree(default_directory(), folder)
    return folder


@pytest.fixture
def edit(mapping_dir: Path) -> Callable[[str, str, str], Path]:
    """Replace one exact piece of text in a copied mapping file; fail if it is not there."""

    def _edit(name: str, old: str, new: str) -> Path:
        path = mapping_dir / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1))
        return path

    return _edit


@pytest.fixture
def lead_row() -> dict[str, object]:
    return {
        "@odata.etag": 'W/"1001"',
        "leadid": LEAD_ID.upper(),
        "fullname": "Ada Lovelace",
        "_ownerid_value": OWNER_ID,
        "emailaddress1": "ada@example.com",
        "telephone1": "+44 20 7946 0000",
        "statecode": 0,
        "modifiedon": "2025-02-01T08:00:00Z",
        "companyname": "Analytical Engines",
    }


@pytest.fixture
def opportunity_row() -> dict[str, object]:
    return {
        "opportunityid": OPP_ID,
        "name": "Engine upgrade",
        "_ownerid_value": OWNER_ID,
        "statecode": 0,
        "modifiedon": "2025-02-01T08:00:00Z",
        "_parentcontactid_value": CONTACT_ID,
        "estimatedvalue": 12000,
    }
