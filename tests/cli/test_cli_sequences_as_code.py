"""Sequences as code: export, apply (several files, no-op, refused changes), clone, tags, owner."""

import json
import tomllib
import uuid
from dataclasses import replace

from cli_helpers import EXAMPLES, NOW, Cli
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.engine.models import EnrollRule, Pacing, Sequence, Step, StepType
from connector.sequence_export import sequence_toml
from connector.sequence_file import sequence_from_data

COLD = EXAMPLES / "cold-lead-outreach.toml"
FOLLOW = EXAMPLES / "opportunity-follow-up.toml"


def other_tenant(tmp_path, cli: Cli, name: str) -> Cli:
    config = tmp_path / f"{name}.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path / name}.db"\n')
    return Cli(config, cli.runner)


def test_export_then_apply_elsewhere_is_the_same_sequence(cli, tmp_path):
    cli("sequence", "apply", str(COLD))
    cli("sequence", "create", "Spare", "--entity", "lead")
    text = cli("sequence", "export", "cold lead outreach").stdout
    data = tomllib.loads(text)
    assert data["name"] == "Cold lead outreach" and data["owner"] == "seqsync"
    assert [s["type"] for s in data["steps"]] == ["email", "wait", "phonecall", "wait", "task"]
    assert all(uuid.UUID(s["id"]) for s in data["steps"])
    exported = tmp_path / "cold.toml"
    cli("sequence", "export", "Cold lead outreach", "-o", str(exported))
    assert exported.read_text() == text
    source = json.loads(cli("--json", "sequence", "show", "Cold lead outreach").stdout)

    production = other_tenant(tmp_path, cli, "production")
    moved = json.loads(production("--json", "sequence", "apply", str(exported)).stdout)
    for key in ("name", "description", "entity", "owner", "tags", "steps"):
        assert moved[key] == source[key], key
    assert production("sequence", "export", "Cold lead outreach").stdout == text


def test_apply_unchanged_file_to_an_active_sequence_is_a_no_op(cli, tmp_path):
    cli("sequence", "apply", str(COLD), "--activate")
    exported = tmp_path / "cold.toml"
    cli("sequence", "export", "Cold lead outreach", "-o", str(exported))
    for file in (COLD, exported):  # without ids (matched by type and name) and with them
        out = cli("sequence", "apply", str(file)).stdout
        assert "unchanged sequence 'Cold lead outreach' (active)" in out
    shown = json.loads(cli("--json", "sequence", "show", "Cold lead outreach").stdout)
    assert shown["status"] == "active" and shown["modified_on"].startswith(NOW[:16])


def test_apply_changed_file_to_an_active_sequence_names_each_change(cli, tmp_path):
    cli("sequence", "apply", str(COLD), "--activate")
    changed = tmp_path / "cold.toml"
    changed.write_text(
        COLD.read_text().replace("days = 2", "days = 4")
        .replace('description = "Three touches in a week"', 'description = "Faster"')
        .replace('name = "Decide next step"\ndescription = "Qualify or disqualify the lead"\n',
                 'name = "Decide"\n')
    )
    err = cli("sequence", "apply", str(changed), code=2).stderr
    assert f"{changed}: sequence 'Cold lead outreach' is active: deactivate it first" in err
    assert "4 changes: description 'Three touches in a week' -> 'Faster'" in err
    assert "step 2 (wait): days 2 -> 4" in err
    assert "step 5 (task 'Decide'): name 'Decide next step' -> 'Decide'" in err
    assert "step 5 (task 'Decide'): description 'Qualify or disqualify the lead' -> ''" in err
    cli("sequence", "deactivate", "Cold lead outreach")
    out = cli("sequence", "apply", str(changed), "--activate").stdout
    assert "updated sequence 'Cold lead outreach' (active)" in out


def test_apply_several_files_and_globs(cli, tmp_path):
    # The shipped examples include one whose move step names another: that one goes first.
    out = cli("sequence", "apply", str(EXAMPLES / "*.toml")).stdout
    assert "created sequence 'Cold lead outreach'" in out
    assert "created sequence 'Opportunity follow-up'" in out
    listed = json.loads(cli("--json", "sequence", "list").stdout)
    assert len(listed) == len(list(EXAMPLES.glob("*.toml")))
    again = json.loads(cli("--json", "sequence", "apply", str(COLD), str(FOLLOW),
                           "--activate").stdout)
    assert [s["status"] for s in again] == ["active", "active"]
    err = cli("sequence", "apply", str(tmp_path / "none-*.toml"), code=2).stderr
    assert "none-*.toml: no sequence file matches" in err
    twin = tmp_path / "twin.toml"
    twin.write_text(COLD.read_text())
    err = cli("sequence", "apply", str(COLD), str(twin), code=2).stderr
    assert f"{twin}: sequence 'Cold lead outreach' is also in {COLD}" in err


def test_one_bad_file_saves_none(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(COLD.read_text().replace("days = 2", "days = 31"))
    err = cli("sequence", "apply", str(FOLLOW), str(bad), code=2).stderr
    assert f"{bad}: step 2 (wait): wait days must be 0-30" in err
    assert json.loads(cli("--json", "sequence", "list").stdout) == []
    # A file that fails only when activated (its move target is missing) undoes the others.
    bad.write_text(COLD.read_text()
                   + '\n[[steps]]\ntype = "move_to_sequence"\nsequence = "Nowhere"\n')
    err = cli("sequence", "apply", str(FOLLOW), str(bad), "--activate", code=2).stderr
    assert f"{bad}: " in err and "no sequence named 'Nowhere'" in err
    assert json.loads(cli("--json", "sequence", "list").stdout) == []


def test_clone_tags_and_owner(cli, tmp_path):
    tagged = tmp_path / "tagged.toml"
    tagged.write_text('tags = ["EMEA", "q3", "emea "]\nowner = "anna@contoso.com"\n'
                      + COLD.read_text())
    original = json.loads(cli("--json", "sequence", "apply", str(tagged)).stdout)
    assert original["tags"] == ["EMEA", "q3"] and original["owner"] == "anna@contoso.com"
    copy = json.loads(cli("--json", "sequence", "clone", "Cold lead outreach",
                          "Cold lead outreach (US)", "--owner", "bob@contoso.com").stdout)
    assert copy["status"] == "inactive" and copy["tags"] == ["EMEA", "q3"]
    assert copy["owner"] == "bob@contoso.com"
    assert [(s["type"], s.get("name"), s.get("days")) for s in copy["steps"]] == [
        (s["type"], s.get("name"), s.get("days")) for s in original["steps"]]
    assert not {s["id"] for s in copy["steps"]} & {s["id"] for s in original["steps"]}
    cli("sequence", "create", "Plain", "--entity", "lead", "--tag", "apac")

    def names(*args: str) -> list[str]:
        return [s["name"] for s in json.loads(cli("--json", "sequence", "list", *args).stdout)]

    assert names("--tag", "emea") == ["Cold lead outreach", "Cold lead outreach (US)"]
    assert names("--tag", "APAC") == ["Plain"]
    assert names("--owner", "ANNA@contoso.com") == ["Cold lead outreach"]
    assert names("--owner", "seqsync") == ["Plain"]  # [engine] user is the default owner
    assert names("--tag", "emea", "--owner", "bob@contoso.com") == ["Cold lead outreach (US)"]
    assert "EMEA, q3" in cli("sequence", "list").stdout
    err = cli("sequence", "clone", "Plain", "cold LEAD outreach", code=2).stderr
    assert "a sequence named 'cold LEAD outreach' already exists" in err


def test_bad_tags_are_one_line_errors(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('tags = "emea"\n' + COLD.read_text())
    assert f"{bad}: tags: expected an array of text" in cli(
        "sequence", "apply", str(bad), code=2).stderr
    bad.write_text('tags = ["  "]\n' + COLD.read_text())
    assert f"{bad}: tags: a tag cannot be empty" in cli(
        "sequence", "apply", str(bad), code=2).stderr


# apply(export(s)) == s, for any valid sequence ------------------------------------------------

stripped = st.text(min_size=1, max_size=30).map(str.strip).filter(bool)
free_text = st.text(max_size=60)
ids = st.uuids().map(str)


@st.composite
def activity_steps(draw) -> Step:
    kind = draw(st.sampled_from([StepType.EMAIL, StepType.PHONECALL, StepType.TASK]))
    template = draw(st.none() | stripped) if kind is StepType.EMAIL else None
    return Step(id=draw(ids), type=kind, name=draw(stripped), description=draw(free_text),
                template=template)


@st.composite
def wait_steps(draw) -> Step:
    days = draw(st.integers(0, 29))
    hours = draw(st.integers(1 if days == 0 else 0, 23))
    return Step(id=draw(ids), type=StepType.WAIT, name=draw(st.just("") | stripped),
                description=draw(free_text), days=days, hours=hours)


@st.composite
def sequences(draw) -> Sequence:
    steps = [draw(activity_steps())]
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            steps.append(draw(wait_steps()))
        steps.append(draw(activity_steps()))
    tags = draw(st.lists(stripped, max_size=4, unique_by=str.lower))
    pacing = Pacing(max_per_owner_per_day=draw(st.none() | st.integers(1, 500)),
                    business_days=draw(st.booleans()))
    column = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
    enroll = draw(st.none() | st.builds(
        EnrollRule,
        where=st.lists(st.tuples(column, st.text(max_size=20)), max_size=3).map(tuple),
        created_after=st.none() | st.dates(),
        max_per_run=st.integers(1, 10_000),
        reenroll_after_days=st.none() | st.integers(1, 365),
    ))
    return Sequence(
        id="", name=draw(stripped), entity=draw(st.sampled_from(["lead", "opportunity"])),
        description=draw(free_text), owner=draw(st.just("") | stripped),
        tags=tuple(sorted(tags, key=str.lower)), steps=tuple(steps), pacing=pacing,
        enroll=enroll,
    )


@settings(max_examples=150, deadline=None)
@given(sequences())
def test_apply_of_export_is_the_same_sequence(seq):
    assert sequence_from_data(tomllib.loads(sequence_toml(seq)), "x.toml") == seq


def test_export_round_trips_a_reacting_sequence(cli, tmp_path):
    """Conditions with then/else branches, command steps and exit criteria come back as read."""
    cli("sequence", "apply", str(EXAMPLES / "*.toml"))
    production = other_tenant(tmp_path, cli, "production")
    for name in ("Lead nurture", "Cold lead, reacting"):
        exported = tmp_path / f"{name}.toml"
        cli("sequence", "export", name, "-o", str(exported))
        production("sequence", "apply", str(exported))
        assert production("sequence", "export", name).stdout == exported.read_text()
        source = json.loads(cli("--json", "sequence", "show", name).stdout)
        moved = json.loads(production("--json", "sequence", "show", name).stdout)
        assert moved["steps"] == source["steps"] and moved["exit_on"] == source["exit_on"]
    text = (tmp_path / "Cold lead, reacting.toml").read_text()
    assert "[steps.if]" in text and "[[steps.then]]" in text


@st.composite
def storable(draw) -> Sequence:
    """A sequence as the pipeline accepts it: rule columns the shipped lead mapping has."""
    seq = draw(sequences())
    if seq.enroll is not None:
        where = draw(st.lists(st.tuples(st.sampled_from(["name", "email", "companyname"]),
                                        st.text(max_size=20)), max_size=3).map(tuple))
        seq = replace(seq, enroll=replace(seq.enroll, where=where, created_after=None))
    return replace(seq, entity="lead")


def test_apply_of_export_through_the_store_is_the_same_sequence(tmp_path):
    """The property again, through the state: save s, export it, apply the file elsewhere."""
    from connector.app import open_app
    from connector.config import Settings
    from connector.pipeline.context import Message
    from connector.sequence_file import load_sequence_file

    def state_at(name: str) -> Settings:
        return Settings.model_validate({"state": {"url": f"sqlite:///{tmp_path / name}.db"}})

    with open_app(state_at("source")) as source, open_app(state_at("target")) as target:
        names = iter(range(10**6))

        @settings(max_examples=40, deadline=None)
        @given(storable())
        def check(seq: Sequence) -> None:
            seq = replace(seq, name=f"{seq.name} {next(names)}")
            saved = source.execute(Message.CREATE, seq)
            path = tmp_path / "s.toml"
            path.write_text(sequence_toml(saved), encoding="utf-8")
            applied = target.execute(Message.CREATE, load_sequence_file(path))
            for field in ("name", "description", "entity", "owner", "tags", "steps", "pacing",
                          "enroll", "exit_on"):
                assert getattr(applied, field) == getattr(saved, field), field

        check()
