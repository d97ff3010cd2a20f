"""Segments end to end: an [enroll] rule connects matching records over several syncs, capped
per run, leaving records on other sequences alone, and re-enrolling only when it says so."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

from support.world import EMAIL_THEN_CALL, T0, World

from connector.mapping import default_directory
from connector.store.schema import connections

D = timedelta(days=1)


def rule(text: str) -> str:
    return EMAIL_THEN_CALL + "\n[enroll]\n" + text


def contoso_leads(env: World, n: int) -> list[str]:
    leads = env.open_leads(n)
    for lead in leads:
        env.crm.update("leads", lead, {"companyname": "Contoso"})
    return leads


def on_sequence(env: World, sequence_id: str) -> set[str]:
    return {row.record_id for row in env.db(connections) if row.sequence_id == sequence_id}


def test_enrolment_over_several_syncs(env: World) -> None:
    contoso = contoso_leads(env, 7)
    env.sync(T0)
    other = env.sequence(name="Other", text=EMAIL_THEN_CALL)
    env.connect(other, [contoso[0]])  # already on another sequence: left alone
    seq = env.sequence(name="Contoso", text=rule('where = ["companyname=Contoso"]\n'
                                                 "max_per_run = 4\n"))
    first = env.sync(T0 + timedelta(hours=1))
    assert first.enrolled == {"Contoso": 4}
    assert first.activities_created["email"] >= 4  # enrolled records are planned at once
    second = env.sync(T0 + timedelta(hours=2))
    assert second.enrolled == {"Contoso": 2}
    assert on_sequence(env, seq) == set(contoso[1:])
    assert on_sequence(env, other) == {contoso[0]}
    # A lead that ended the sequence is not enrolled again by the same rule...
    assert env.cli("disconnect", contoso[3], now=T0 + timedelta(hours=3)).exit_code == 0
    # ... and a lead that newly matches is.
    newcomer = env.open_leads(8)[7]
    env.crm.update("leads", newcomer, {"companyname": "Contoso"})
    third = env.sync(T0 + timedelta(hours=4))
    assert third.enrolled == {"Contoso": 1}
    assert on_sequence(env, seq) == (set(contoso[1:]) - {contoso[3]}) | {newcomer}

    shown = json.loads(env.cli("--json", "sequence", "show", "Contoso").stdout)
    assert shown["enroll"] == {"where": ["companyname=Contoso"], "max_per_run": 4}
    runs = [(r["matched"], r["enrolled"], r["on_other_sequence"], r["ended_before"],
             r["left_for_next_run"]) for r in shown["enrollment_runs"]]
    assert runs == [(8, 1, 1, 1, 0), (7, 2, 1, 0, 0), (7, 4, 1, 0, 2)]  # newest first
    human = env.cli("sequence", "show", "Contoso").stdout
    assert "companyname = 'Contoso'" in human and "never twice" in human


def test_reenrol_after_days_and_created_after(env: World) -> None:
    mappings = env.folder / "mappings"
    shutil.copytree(default_directory(), mappings)
    lead_toml = mappings / "lead.toml"
    lead_toml.write_text(lead_toml.read_text().replace(
        "[columns]", '[columns]\ncreatedon = "datetime"', 1))
    env.write_config(sync={"mappings_dir": str(mappings)})
    old, recent, fresh = contoso_leads(env, 3)
    env.crm.update("leads", old, {"createdon": "2024-06-01T10:00:00Z"})
    env.crm.update("leads", recent, {"createdon": "2025-03-01T10:00:00Z"})
    env.crm.update("leads", fresh, {"createdon": "2026-01-15T10:00:00Z"})
    env.sync(T0)
    seq = env.sequence(name="Recent", text=rule(
        'where = ["companyname=Contoso"]\ncreated_after = 2025-01-01\nreenroll_after_days = 2\n'))
    assert env.sync(T0 + timedelta(hours=1)).enrolled == {"Recent": 2}
    assert on_sequence(env, seq) == {recent, fresh}
    assert env.cli("disconnect", recent, now=T0 + timedelta(hours=2)).exit_code == 0
    assert env.sync(T0 + D).enrolled == {}  # ended a day ago: not yet
    assert env.sync(T0 + 2 * D + timedelta(hours=3)).enrolled == {"Recent": 1}
    assert on_sequence(env, seq) == {recent, fresh}
    exported = env.cli("sequence", "export", "Recent").stdout
    assert "created_after = 2025-01-01" in exported and "reenroll_after_days = 2" in exported


def test_bad_rules_are_one_line_errors(env: World) -> None:
    env.sync(T0)
    for text, message in (
        ('where = ["regionx=EMEA"]\n', "[enroll] where regionx=EMEA: unknown column 'regionx'"),
        ("max_per_run = 0\n", "[enroll] max_per_run must be a whole number of at least 1"),
        ('where = ["statecode=open"]\n', "[enroll] where statecode=open: expected a number"),
        ("created_after = 2025-01-01\n",
         "[enroll] created_after needs the createdon column in the lead mapping"),
        ('where = "companyname=Contoso"\n', "[enroll] where must be an array"),
    ):
        path = env.folder / "bad.toml"
        path.write_text(rule(text).format(name="Bad", entity="lead"))
        result = env.cli("sequence", "apply", str(path))
        assert result.exit_code == 2, (text, result.stdout, result.stderr)
        assert message in result.stderr, (message, result.stderr)
        assert str(path) in result.stderr and len(result.stderr.strip().splitlines()) == 1
