"""The mapping files that ship with seqsync load and say what the Dataverse docs say."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_settings
from connector.engine.models import StepType
from connector.mapping import (
    ACTIVITY_FILES,
    MappingError,
    default_directory,
    load_for_settings,
    load_mappings,
)


def test_default_directory_is_the_repository_mappings_folder() -> None:
    folder = default_directory()
    assert folder.name == "mappings"
    assert {p.stem for p in folder.glob("*.toml")} >= {"lead", "opportunity", *ACTIVITY_FILES}


def test_shipped_targets() -> None:
    mappings = load_mappings()
    assert [t.logical_name for t in mappings.targets] == ["lead", "opportunity"]
    assert mappings.sequence_targets == ["lead", "opportunity"]
    lead = mappings.target("lead")
    assert (lead.entity_set, lead.primary_key) == ("leads", "leadid")
    assert lead.select_columns() == [
        "leadid", "fullname", "statecode", "_ownerid_value", "emailaddress1", "telephone1",
        "modifiedon", "companyname",
    ]
    opportunity = mappings.target("opportunity")
    assert opportunity.entity_set == "opportunities"
    assert "_parentcontactid_value" in opportunity.select_columns()
    for target in mappings.targets:
        assert target.is_open(0)
        assert not target.is_open(1) and not target.is_open(2)


@pytest.mark.parametrize(
    ("step", "entity_set", "canceled_status", "parties"),
    [
        (StepType.EMAIL, "emails", 5, "email_activity_parties"),
        (StepType.PHONECALL, "phonecalls", 3, "phonecall_activity_parties"),
        (StepType.TASK, "tasks", 6, None),
    ],
)
def test_shipped_activities(
    step: StepType, entity_set: str, canceled_status: int, parties: str | None
) -> None:
    activity = load_mappings().activity(step)
    assert activity.entity_set == entity_set
    assert activity.primary_key == "activityid"
    assert activity.party_collection == parties
    assert activity.cancel_body() == {"statecode": 2, "statuscode": canceled_status}
    assert activity.regarding == {
        "lead": f"regardingobjectid_lead_{step}",
        "opportunity": f"regardingobjectid_opportunity_{step}",
    }
    assert activity.select_columns() == [
        "activityid", "statecode", "actualend", "modifiedon", "statuscode"
    ]
    assert activity.subject_max_length == 200


def test_lookups_of_unknown_names_are_one_line_errors() -> None:
    mappings = load_mappings(tables=["lead"])
    with pytest.raises(MappingError, match=r"no mapping loaded for table 'opportunity'"):
        mappings.target("opportunity")
    with pytest.raises(MappingError, match=r"step type 'wait'"):
        mappings.activity(StepType.WAIT)
    assert mappings.activity_for_table("phonecall").entity_set == "phonecalls"


def test_settings_choose_directory_and_tables(tmp_path: Path, mapping_dir: Path) -> None:
    config = tmp_path / "seqsync.toml"
    config.write_text(f'[sync]\ntables = ["opportunity"]\nmappings_dir = "{mapping_dir}"\n')
    mappings = load_for_settings(load_settings(config))
    assert mappings.directory == mapping_dir
    assert mappings.sequence_targets == ["opportunity"]


def test_a_lone_table_name_is_one_table() -> None:
    assert [t.logical_name for t in load_mappings(tables="opportunity").targets] == ["opportunity"]
