"""Every way a mapping can be wrong gives one line, exit code 2, naming the file and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connector.errors import EXIT_INVALID
from connector.mapping import MappingError, load_mappings

Edit = Callable[[str, str, str], Path]


def load_error(folder: Path, tables: list[str] | None = None) -> str:
    with pytest.raises(MappingError) as caught:
        load_mappings(folder, tables or ["lead", "opportunity"])
    assert caught.value.exit_code == EXIT_INVALID
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        pytest.param(
            "lead.toml", 'phone = "telephone1"', 'phone = "telephone1"\nfax = "fax"',
            "lead.toml: [fields] fax: unknown key", id="unknown-key-in-table",
        ),
        pytest.param(
            "lead.toml", "sequence_target = true", 'sequence_target = "yes"',
            "lead.toml: sequence_target: Input should be a valid boolean (got 'yes')",
            id="wrong-type-top-level",
        ),
        pytest.param(
            "lead.toml", 'owner_id = "_ownerid_value"', "owner_id = 7",
            "lead.toml: [fields] owner_id: Input should be a valid string (got 7)",
            id="wrong-type-field",
        ),
        pytest.param(
            "lead.toml", 'companyname = "string"', 'companyname = "text"',
            "lead.toml: [columns] companyname: Input should be 'string', 'int'",
            id="unknown-column-type",
        ),
        pytest.param(
            "lead.toml", 'companyname = "string"', 'CompanyName = "string"',
            "lead.toml: [columns] CompanyName: must be a Dataverse logical name",
            id="column-name-not-lower-case",
        ),
        pytest.param(
            "lead.toml", "open_states = [0]", 'open_states = ["0"]',
            "lead.toml: open_states[0]: Input should be a valid integer (got '0')",
            id="wrong-type-in-list",
        ),
        pytest.param(
            "lead.toml", 'primary_key = "leadid"', "",
            "lead.toml: primary_key: required key is missing", id="missing-key",
        ),
        pytest.param(
            "lead.toml", 'logical_name = "lead"', 'logical_name = "leads"',
            "lead.toml: logical_name: must be 'lead', the file's name (got 'leads')",
            id="logical-name-not-file-name",
        ),
        pytest.param(
            "lead.toml", "closed_states = [1, 2]", "closed_states = [0, 1, 2]",
            "lead.toml: closed_states: [0] also listed in open_states", id="states-overlap",
        ),
        pytest.param(
            "opportunity.toml", '_parentcontactid_value = "guid"',
            '_parentcontactid_value = "string"',
            "opportunity.toml: [recipient] column: '_parentcontactid_value' must be the "
            "primary key", id="recipient-not-a-guid-column",
        ),
        pytest.param(
            "email.toml", 'opportunity = "regardingobjectid_opportunity_email"\n', "",
            "email.toml: [regarding] opportunity: missing; needed because opportunity.toml "
            "has sequence_target = true", id="regarding-missing-for-target",
        ),
        pytest.param(
            "task.toml", "canceled_status = 6", 'canceled_status = "6"',
            "task.toml: [states] canceled_status: Input should be a valid integer (got '6')",
            id="activity-wrong-type",
        ),
        pytest.param(
            "task.toml", "canceled = 2", "canceled = 1",
            "task.toml: [states]: open, completed and canceled must be three different",
            id="activity-states-not-distinct",
        ),
        pytest.param(
            "phonecall.toml", "[payload.constants]\n", '[payload.constants]\nsubject = "x"\n',
            "phonecall.toml: [payload] constants.subject: is set by seqsync",
            id="constant-overrides-payload",
        ),
        pytest.param(
            "email.toml", 'due = "scheduledend"', 'due = "scheduledend"\nbody = "x"',
            "email.toml: [payload] body: unknown key", id="activity-unknown-key",
        ),
        pytest.param(
            "email.toml", "subject_max_length = 200", "subject_max_length = 0",
            "email.toml: subject_max_length: Input should be greater than or equal to 1",
            id="activity-value-out-of-range",
        ),
    ],
)
def test_invalid_mapping(
    mapping_dir: Path, edit: Edit, file: str, old: str, new: str, expected: str
) -> None:
    path = edit(file, old, new)
    message = load_error(mapping_dir)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_bad_toml_names_file_and_line(mapping_dir: Path, edit: Edit) -> None:
    path = edit("opportunity.toml", 'entity_set = "opportunities"', "entity_set = opportunities")
    message = load_error(mapping_dir)
    assert message.startswith(f"{path}: invalid TOML:")
    assert "(at line 4, column 14)" in message


def test_missing_activity_file_names_its_path(mapping_dir: Path) -> None:
    (mapping_dir / "task.toml").unlink()
    message = load_error(mapping_dir)
    assert message == f"{mapping_dir / 'task.toml'}: mapping file not found (it maps task steps)"


def test_unknown_table_in_tables_names_the_missing_file(mapping_dir: Path) -> None:
    message = load_error(mapping_dir, ["lead", "account"])
    assert message == (
        f"{mapping_dir / 'account.toml'}: mapping file not found "
        "(table 'account' is listed in [sync] tables)"
    )


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("email", "[sync] tables: 'email' is an activity table"),
        ("../secrets", "[sync] tables: '../secrets' is not a table logical name"),
    ],
)
def test_tables_that_cannot_be_targets(mapping_dir: Path, table: str, expected: str) -> None:
    assert load_error(mapping_dir, [table]).startswith(expected)


def test_missing_directory(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nowhere")
    assert message == f"{tmp_path / 'nowhere'}: mappings directory not found ([sync] mappings_dir)"


def test_regarding_only_required_for_sequence_targets(mapping_dir: Path, edit: Edit) -> None:
    # A table mirrored for reporting only needs no regarding binding in the activity files.
    edit("opportunity.toml", "sequence_target = true", "sequence_target = false")
    for name in ("email.toml", "phonecall.toml", "task.toml"):
        text = (mapping_dir / name).read_text()
        lines = [line for line in text.splitlines() if not line.startswith("opportunity =")]
        (mapping_dir / name).write_text("\n".join(lines) + "\n")
    mappings = load_mappings(mapping_dir, ["lead", "opportunity"])
    assert mappings.sequence_targets == ["lead"]


def test_misspelt_table_reports_the_unknown_name_first(mapping_dir: Path, edit: Edit) -> None:
    path = edit("email.toml", "[regarding]", "[regardin]")
    assert load_error(mapping_dir) == f"{path}: regardin: unknown key (and 1 more)"
