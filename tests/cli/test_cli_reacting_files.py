"""Reacting sequence files (conditions, branches, commands, exit_on) through `sequence apply`:
every mistake is one line naming the file and the step, exit 2, nothing saved."""

import json

import pytest
from cli_helpers import EXAMPLES

REACTING = EXAMPLES / "cold-lead-reacting.toml"
NURTURE = EXAMPLES / "lead-nurture.toml"


def test_the_reacting_examples_apply_and_show_as_a_tree(cli):
    cli("sequence", "apply", str(NURTURE), "--activate")
    cli("sequence", "apply", str(REACTING), "--activate")
    shown = json.loads(cli("--json", "sequence", "show", "Cold lead, reacting").stdout)
    assert shown["exit_on"] == ["bounce", "meeting", "reply"]
    condition = shown["steps"][2]
    assert condition["if"] == {"kind": "previous", "previous": "completed"}
    nested = condition["then"][1]
    assert nested["position"] == "3.then.2"
    assert nested["if"]["op"] == "in" and nested["if"]["value"] == [1, 2]
    assert [s["type"] for s in nested["else"]] == ["update_record", "move_to_sequence"]
    assert nested["else"][0]["set"] == {"leadqualitycode": 3}
    text = cli("sequence", "show", "Cold lead, reacting").stdout
    assert "3.then.2.else.2" in text and "move to 'Lead nurture'" in text


def test_applying_again_keeps_every_step_id_in_the_tree(cli, tmp_path):
    cli("sequence", "apply", str(NURTURE))
    first = json.loads(cli("--json", "sequence", "apply", str(NURTURE)).stdout)
    edited = tmp_path / "nurture.toml"
    edited.write_text(NURTURE.read_text().replace('name = "Call while it is warm"',
                                                  'name = "Call while it is warm"\n'
                                                  'description = "new"'))
    second = json.loads(cli("--json", "sequence", "apply", str(edited)).stdout)

    def ids(steps):
        return [s["id"] for s in steps] + [i for s in steps for b in ("then", "else")
                                           for i in ids(s.get(b, []))]

    assert ids(first["steps"]) == ids(second["steps"])


BASE = """\
name = "Bad"
entity = "lead"
[[steps]]
type = "email"
name = "Hi"
[[steps]]
type = "condition"
name = "Check"
if = { previous = "completed" }
[[steps.then]]
type = "task"
name = "Call"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE.replace('previous = "completed"', 'previous = "done"'),
         "step 2 (condition 'Check'): previous must be one of completed, skipped"),
        (BASE.replace('{ previous = "completed" }', '{ column = "x", op = "like", value = 1 }'),
         "steps[2] (step 2): unknown op 'like'"),
        (BASE.replace('{ previous = "completed" }', '{ previous = "completed", column = "x" }'),
         "steps[2] (step 2): `if` takes one of"),
        (BASE.replace('type = "task"\nname = "Call"', 'type = "task"\nname = "Call"\ndays = 2'),
         "steps[2].then[1] (step 2.then.1): unknown key 'days' for a task step"),
        (BASE + '[[steps.else]]\ntype = "wait"\ndays = 1\n',
         "step 2.else.1 (wait): a sequence cannot end with a wait"),
        (BASE.replace('name = "Bad"', 'name = "Bad"\nexit_on = ["reply", "unsubscribe"]'),
         "exit_on: unknown exit criterion 'unsubscribe'"),
        (BASE.replace('{ previous = "completed" }', "{ replied_within_days = 3 }"),
         "replied_within_days needs a sequence that does not exit on reply"),
        (BASE + '[[steps]]\ntype = "move_to_sequence"\nsequence = "Bad"\n',
         "step 3 (move_to_sequence): a sequence cannot move records to itself"),
        (BASE + '[[steps]]\ntype = "update_record"\n',
         "step 3 (update_record): an update_record step needs `set`"),
    ],
)
def test_bad_reacting_files(cli, tmp_path, text, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    err = cli("sequence", "apply", str(bad), "--activate", code=2).stderr
    assert err.startswith(f"seqsync: error: {bad}: ") and message in err, err
    assert json.loads(cli("--json", "sequence", "list").stdout) == []
