import json
import shutil

import pytest
from cli_helpers import EXAMPLES

COLD = EXAMPLES / "cold-lead-outreach.toml"


def test_create_list_show(cli):
    out = cli("sequence", "create", "Warm leads", "--entity", "lead", "--description", "d").stdout
    assert "created sequence 'Warm leads'" in out and "inactive" in out
    listed = json.loads(cli("--json", "sequence", "list").stdout)
    assert [(s["name"], s["status"], s["activities"]) for s in listed] == [
        ("Warm leads", "inactive", 0)]
    assert json.loads(cli("--json", "sequence", "list", "--status", "active").stdout) == []
    shown = json.loads(cli("--json", "sequence", "show", "warm LEADS").stdout)
    assert shown["owner"] == "seqsync" and shown["entity"] == "lead"
    assert shown["connected_records"] == 0 and shown["ready_to_activate"] is False
    human = cli("sequence", "show", listed[0]["id"]).stdout
    for word in ("owner", "status", "entity", "activities", "connected records", "Steps"):
        assert word in human


def test_create_errors(cli):
    cli("sequence", "create", "Warm", "--entity", "lead")
    err = cli("sequence", "create", "WARM", "--entity", "lead", code=2).stderr
    assert "a sequence named 'WARM' already exists" in err
    err = cli("sequence", "create", "X", "--entity", "account", code=2).stderr
    assert "entity 'account' is not a sequence target" in err
    assert "no sequence named or with id 'nope'" in cli("sequence", "show", "nope",
                                                        code=2).stderr


def test_apply_creates_then_updates_keeping_step_ids(cli, tmp_path):
    created = json.loads(cli("--json", "sequence", "apply", str(COLD)).stdout)
    assert created["status"] == "inactive" and len(created["steps"]) == 5
    edited = tmp_path / "cold.toml"
    edited.write_text(COLD.read_text().replace("days = 2", "days = 4")
                      .replace('name = "Introduction"', 'name = "Hello"'))
    updated = json.loads(cli("--json", "sequence", "apply", str(edited), "--activate").stdout)
    assert updated["status"] == "active" and updated["id"] == created["id"]
    old_ids = [s["id"] for s in created["steps"]]
    new_ids = [s["id"] for s in updated["steps"]]
    assert new_ids == old_ids  # matched by type and name, or (renamed) by type and position
    assert updated["steps"][1]["days"] == 4
    err = cli("sequence", "apply", str(COLD), code=2).stderr
    assert "'Cold lead outreach' is active: deactivate it first" in err


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda t: t.replace('type = "email"            # email | phonecall | task | wait',
                             'type = "wait"\ndays = 1', 1).replace('name = "Introduction"\n', "")
         .replace('description = "Introduce yourself and the offer"\n', ""),
         "step 1 (wait): a sequence cannot start with a wait"),
        (lambda t: t + '\n[[steps]]\ntype = "wait"\ndays = 1\n',
         "step 6 (wait): a sequence cannot end with a wait"),
        (lambda t: t.replace("days = 2", "days = 31"),
         "step 2 (wait): wait days must be 0-30 (got 31)"),
        (lambda t: t.replace("days = 2", "days = 0"),
         "step 2 (wait): a wait must be longer than 0"),
        (lambda t: t.replace('type = "task"', 'type = "fax"'),
         "steps[5] (step 5): unknown step type 'fax'"),
        (lambda t: t.replace('entity = "lead"', 'entity = "lead"\ncolour = "red"'),
         "unknown key 'colour'"),
        (lambda t: t.replace("days = 2", "days = 2\nname_typo = 1"),
         "steps[2] (step 2): unknown key 'name_typo' for a wait step"),
        (lambda t: t.replace('name = "Cold lead outreach"', 'name = "Cold lead outreach'),
         "invalid TOML"),
        (lambda t: t.replace("days = 2", 'days = "two"'),
         "steps[2] (step 2) days: expected a whole number"),
    ],
)
def test_bad_sequence_files_are_one_line_errors_naming_file_and_step(cli, tmp_path, mutation,
                                                                      message):
    bad = tmp_path / "bad.toml"
    bad.write_text(mutation(COLD.read_text()))
    err = cli("sequence", "apply", str(bad), code=2).stderr
    assert str(bad) in err and message in err
    assert json.loads(cli("--json", "sequence", "list").stdout) == []  # nothing saved


def test_missing_file(cli, tmp_path):
    assert "file not found" in cli("sequence", "apply", str(tmp_path / "no.toml"),
                                   code=2).stderr


def test_step_commands(cli):
    cli("sequence", "create", "S", "--entity", "lead")
    cli("sequence", "add-step", "S", "email", "--name", "Hello", "--template", "tpl-1")
    cli("sequence", "add-step", "S", "task", "--name", "Wrap up")
    cli("sequence", "add-step", "S", "wait", "--days", "1", "--hours", "6", "--position", "2")
    shown = json.loads(cli("--json", "sequence", "show", "S").stdout)
    assert [s["type"] for s in shown["steps"]] == ["email", "wait", "task"]
    assert shown["steps"][0]["template"] == "tpl-1" and shown["ready_to_activate"]
    task_id = shown["steps"][2]["id"]
    err = cli("sequence", "edit-step", "S", task_id, "--position", "1", code=2).stderr
    assert "step 3 (wait): a sequence cannot end with a wait" in err
    cli("sequence", "add-step", "S", "phonecall", "--name", "Ring")
    cli("sequence", "edit-step", "S", task_id, "--name", "Call back", "--position", "1")
    cli("sequence", "edit-step", "S", "3", "--days", "2")
    after = json.loads(cli("--json", "sequence", "show", "S").stdout)
    assert [(s["position"], s["type"]) for s in after["steps"]] == [
        (1, "task"), (2, "email"), (3, "wait"), (4, "phonecall")]
    assert after["steps"][0]["id"] == task_id and after["steps"][0]["name"] == "Call back"
    assert after["steps"][2]["days"] == 2 and after["steps"][2]["hours"] == 6
    assert "cannot end with a wait" in cli("sequence", "remove-step", "S", "4", code=2).stderr
    cli("sequence", "remove-step", "S", "3")
    assert len(json.loads(cli("--json", "sequence", "show", "S").stdout)["steps"]) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["wait", "--days", "31"], "step 1 (wait): wait days must be 0-30 (got 31)"),
        (["wait"], "a wait must be longer than 0"),
        (["fax", "--name", "x"], "unknown step type 'fax'"),
        (["phonecall", "--name", "x", "--days", "1"], "--days and --hours only apply to wait"),
        (["task", "--name", "x", "--template", "t"], "--template only applies to email"),
        (["email"], "an email step needs a name"),
        (["email", "--name", "x", "--position", "5"], "--position must be between 1 and 1"),
    ],
)
def test_add_step_errors(cli, args, message):
    cli("sequence", "create", "S", "--entity", "lead")
    assert message in cli("sequence", "add-step", "S", *args, code=2).stderr


def test_wait_first_or_last_via_steps_is_refused(cli):
    cli("sequence", "create", "S", "--entity", "lead")
    cli("sequence", "add-step", "S", "email", "--name", "Hi")
    err = cli("sequence", "add-step", "S", "wait", "--days", "1", code=2).stderr
    assert "step 2 (wait): a sequence cannot end with a wait" in err
    err = cli("sequence", "add-step", "S", "wait", "--days", "1", "--position", "1",
              code=2).stderr
    assert "step 1 (wait): a sequence cannot start with a wait" in err


def test_lifecycle_and_editing_an_active_sequence(cli):
    err = cli("sequence", "apply", str(COLD)).stdout
    assert "created" in err
    cli("sequence", "create", "Empty", "--entity", "lead")
    assert "cannot activate 'Empty'" in cli("sequence", "activate", "Empty", code=2).stderr
    cli("sequence", "activate", "cold lead outreach")
    err = cli("sequence", "add-step", "cold lead outreach", "task", "--name", "x",
              code=2).stderr
    assert err.strip() == ("seqsync: error: sequence 'Cold lead outreach' is active: "
                           "deactivate it first to edit it")
    for args in (["edit-step", "cold lead outreach", "1", "--name", "y"],
                 ["remove-step", "cold lead outreach", "1"]):
        assert "deactivate it first" in cli("sequence", *args, code=2).stderr
    assert "paused" in cli("sequence", "deactivate", "cold lead outreach").stdout
    cli("sequence", "remove-step", "cold lead outreach", "4")  # the wait before the task
    cli("sequence", "remove-step", "cold lead outreach", "4")  # the task
    listed = json.loads(cli("--json", "sequence", "list", "--status", "inactive").stdout)
    assert {s["name"] for s in listed} == {"Cold lead outreach", "Empty"}


def test_global_options_after_the_command(cli):
    cli("sequence", "create", "S", "--entity", "lead")
    result = cli("sequence", "list", "--json")
    assert json.loads(result.stdout)[0]["name"] == "S"


def test_copying_a_file_under_another_name_gets_its_own_step_ids(cli, tmp_path):
    first = json.loads(cli("--json", "sequence", "apply", str(COLD)).stdout)
    copy = tmp_path / "copy.toml"
    shutil.copy(COLD, copy)
    copy.write_text(copy.read_text().replace("Cold lead outreach", "Copy"))
    second = json.loads(cli("--json", "sequence", "apply", str(copy)).stdout)
    assert not {s["id"] for s in first["steps"]} & {s["id"] for s in second["steps"]}


@pytest.mark.parametrize("steps", ["", "steps = []\n"])
def test_a_file_without_steps_is_refused_before_saving(cli, tmp_path, steps):
    bad = tmp_path / "empty.toml"
    bad.write_text(f'name = "Empty"\nentity = "lead"\n{steps}')
    err = cli("sequence", "apply", str(bad), "--activate", code=2).stderr
    assert f"{bad}: [[steps]]: the sequence needs at least one email" in err
    assert json.loads(cli("--json", "sequence", "list").stdout) == []


def test_a_file_with_a_byte_order_mark_is_read(cli, tmp_path):
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + COLD.read_bytes())
    assert "created sequence 'Cold lead outreach'" in cli("sequence", "apply", str(bom)).stdout


def test_config_mistakes_found_by_the_app_name_the_config_file(cli):
    cli.config.write_text(cli.config.read_text() + '[plugins]\nload = ["json"]\n')
    err = cli("sequence", "list", code=2).stderr
    assert f"{cli.config}: [plugins] load 'json': expected 'package.module:attribute'" in err


def test_keep_step_ids_matching_rules():
    from connector.engine.models import Step, StepType
    from connector.sequence_file import keep_step_ids

    email = Step(id="e", type=StepType.EMAIL, name="Hi")
    wait = Step(id="w", type=StepType.WAIT, days=1)
    call = Step(id="c", type=StepType.PHONECALL, name="Ring")
    fresh = [Step(id=f"n{i}", type=s.type, name=s.name, days=s.days)
             for i, s in enumerate((call, wait, email))]
    # Reordered: matched by type and name (waits have no name: type and empty name).
    assert [s.id for s in keep_step_ids(tuple(fresh), (email, wait, call))] == ["c", "w", "e"]
    renamed = (Step(id="x", type=StepType.EMAIL, name="Hello"), wait, call)
    assert [s.id for s in keep_step_ids(renamed, (email, wait, call))] == ["e", "w", "c"]
    replaced = (Step(id="t", type=StepType.TASK, name="New"), wait, call)
    assert [s.id for s in keep_step_ids(replaced, (email, wait, call))] == ["t", "w", "c"]
