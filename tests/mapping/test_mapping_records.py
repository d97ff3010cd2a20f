"""CRM rows become local records through the target mappings, custom columns included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mapping_samples import CONTACT_ID, LEAD_ID, OPP_ID, OWNER_ID

from connector.config import load_settings
from connector.engine.models import Record
from connector.mapping import RowError, load_for_settings, load_mappings

Edit = Callable[[str, str, str], Path]


def test_lead_row_to_record(lead_row: dict[str, object]) -> None:
    lead = load_mappings().target("lead")
    record = lead.to_record(lead_row)
    assert record == Record(
        id=LEAD_ID,  # lower-cased: the CRM may answer in either case
        table="lead",
        name="Ada Lovelace",
        owner_id=OWNER_ID,
        is_open=True,
        statecode=0,
        email="ada@example.com",
        phone="+44 20 7946 0000",
        columns=record.columns,
    )
    assert dict(record.columns) == {"companyname": "Analytical Engines", "leadqualitycode": None}
    assert lead.modified_on(lead_row) == datetime(2025, 2, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("statecode", "is_open"), [(0, True), (1, False), (2, False)])
def test_open_and_closed_states(
    lead_row: dict[str, object], statecode: int, is_open: bool
) -> None:
    record = load_mappings().target("lead").to_record({**lead_row, "statecode": statecode})
    assert (record.statecode, record.is_open) == (statecode, is_open)


def test_opportunity_row_keeps_its_contact(opportunity_row: dict[str, object]) -> None:
    opportunity = load_mappings().target("opportunity")
    record = opportunity.to_record(opportunity_row)
    assert (record.id, record.name, record.email, record.phone) == (
        OPP_ID, "Engine upgrade", None, None,
    )
    assert dict(record.columns) == {
        "_parentcontactid_value": CONTACT_ID,
        "estimatedvalue": 12000.0,
    }
    assert opportunity.recipient_id(record) == CONTACT_ID


def test_nulls_are_kept_as_none(lead_row: dict[str, object]) -> None:
    row = {**lead_row, "fullname": None, "_ownerid_value": None, "companyname": None}
    del row["telephone1"]  # a column the CRM left out reads like null
    record = load_mappings().target("lead").to_record(row)
    assert (record.name, record.owner_id, record.phone) == ("", None, None)
    assert dict(record.columns) == {"companyname": None, "leadqualitycode": None}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"leadid": None}, "lead row without an id: column leadid: primary key missing"),
        ({"leadid": "not-a-guid"}, "lead row without an id: column leadid: expected a GUID"),
        ({"fullname": 42}, f"lead {LEAD_ID}: column fullname: expected a string, got int 42"),
        ({"statecode": "0"}, f"lead {LEAD_ID}: column statecode: expected a whole number"),
        ({"statecode": True}, f"lead {LEAD_ID}: column statecode: expected a whole number"),
        ({"statecode": None}, f"lead {LEAD_ID}: column statecode: missing; it tells an open"),
        ({"statecode": 7}, f"lead {LEAD_ID}: column statecode: value 7 is in neither"),
        ({"_ownerid_value": "x"}, f"lead {LEAD_ID}: column _ownerid_value: expected a GUID"),
        ({"companyname": ["a"]}, f"lead {LEAD_ID}: column companyname: expected a string"),
    ],
)
def test_bad_rows_name_record_and_column(
    lead_row: dict[str, object], change: dict[str, object], expected: str
) -> None:
    with pytest.raises(RowError) as caught:
        load_mappings().target("lead").to_record({**lead_row, **change})
    assert str(caught.value).startswith(expected)
    assert caught.value.table == "lead"


def test_bad_modified_on(lead_row: dict[str, object]) -> None:
    with pytest.raises(RowError, match=f"lead {LEAD_ID}: column modifiedon: expected an ISO"):
        load_mappings().target("lead").modified_on({**lead_row, "modifiedon": "yesterday"})


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("string", "North", "North"),
        ("int", 3, 3),
        ("float", 2, 2.0),
        ("float", 2.5, 2.5),
        ("bool", False, False),
        ("datetime", "2025-02-01T09:00:00+01:00", "2025-02-01T08:00:00Z"),
        ("guid", "C0C0C0C0-0000-4000-8000-000000000003", CONTACT_ID),
    ],
)
def test_custom_column_types(
    mapping_dir: Path, edit: Edit, lead_row: dict[str, object], kind: str, raw: object,
    value: object,
) -> None:
    edit("lead.toml", "[columns]\n", f'[columns]\nnew_x = "{kind}"\n')
    lead = load_mappings(mapping_dir, ["lead"]).target("lead")
    assert "new_x" in lead.select_columns()
    assert lead.to_record({**lead_row, "new_x": raw}).columns["new_x"] == value


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("int", 1.5), ("int", True), ("float", "1"), ("bool", 1), ("datetime", "soon")],
)
def test_custom_column_wrong_type(
    mapping_dir: Path, edit: Edit, lead_row: dict[str, object], kind: str, raw: object
) -> None:
    edit("lead.toml", "[columns]\n", f'[columns]\nnew_x = "{kind}"\n')
    lead = load_mappings(mapping_dir, ["lead"]).target("lead")
    with pytest.raises(RowError, match=f"lead {LEAD_ID}: column new_x: expected"):
        lead.to_record({**lead_row, "new_x": raw})


def test_user_adds_a_custom_column(
    tmp_path: Path, mapping_dir: Path, edit: Edit, lead_row: dict[str, object]
) -> None:
    # What a user does: copy the mappings, declare the tenant's column, point the config at it.
    edit("lead.toml", "[columns]\n", '[columns]\nnew_region = "string"\n')
    config = tmp_path / "seqsync.toml"
    config.write_text(f'[sync]\nmappings_dir = "{mapping_dir}"\n')
    lead = load_for_settings(load_settings(config)).target("lead")
    assert "new_region" in lead.select_columns()
    record = lead.to_record({**lead_row, "new_region": "EMEA"})
    assert record.columns["new_region"] == "EMEA"
    # The shipped mapping is untouched and does not know the column.
    assert "new_region" not in load_mappings().target("lead").to_record(lead_row).columns
