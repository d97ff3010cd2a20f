"""`sequence stats` and `seqsync stats` against a history built through sync and the mock CRM,
checked against figures counted by hand."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from support.world import T0, THREE_STEPS, World

H = timedelta(hours=1)
D = timedelta(days=1)


def activity_of(env: World, entity_set: str, record_id: str) -> str:
    found = [a for a in env.crm.rows(entity_set)
             if str(a["_regardingobjectid_value"]) == record_id and a["statecode"] == 0]
    assert len(found) == 1, found
    return str(found[0]["activityid"])


def build_history(env: World) -> list[str]:
    """Six leads; see the hand count in test_sequence_stats_match_a_hand_count."""
    env.sync(T0)
    seq = env.sequence(text=THREE_STEPS)
    leads = env.open_leads(6)
    env.connect(seq, leads)
    env.sync(T0)  # six emails
    for lead in leads[:3]:
        env.complete("emails", activity_of(env, "emails", lead), T0 + 2 * H)
    env.complete("emails", activity_of(env, "emails", leads[3]), T0 + 3 * H, cancel=True)
    assert env.cli("disconnect", leads[4], now=T0 + H).exit_code == 0
    env.crm.update("leads", leads[5], {"statecode": 1, "statuscode": 3})  # qualified
    env.sync(T0 + 4 * H)
    env.sync(T0 + D + 4 * H)  # waits over: calls for leads 0-3
    env.complete("phonecalls", activity_of(env, "phonecalls", leads[0]), T0 + D + 6 * H)
    env.crm.update("leads", leads[1], {"statecode": 2, "statuscode": 4})  # disqualified
    env.sync(T0 + D + 8 * H)  # a task for lead 0
    env.complete("tasks", activity_of(env, "tasks", leads[0]), T0 + 2 * D)
    env.sync(T0 + 2 * D + H)
    return leads


def test_sequence_stats_match_a_hand_count(env: World) -> None:
    build_history(env)
    result = env.cli("--json", "sequence", "stats", "Outreach")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    # connected 6; ended: lead 4 disconnected, lead 5 qualified, lead 1 disqualified,
    # lead 0 completed; leads 2 and 3 still on the call step.
    assert (stats["connected"], stats["active"], stats["completed"]) == (6, 2, 1)
    assert stats["ended"] == {"closed_lost_or_disqualified": 1, "closed_won_or_qualified": 1,
                              "completed": 1, "user_disconnected": 1}
    assert stats["successes"] == 1 and stats["success_rate"] == 0.25
    assert "divided by all connections that ended" in stats["success_definition"]
    steps = {s["position"]: s for s in stats["steps"]}
    figures = {int(n): (s["reached"], s["completed"], s["skipped"], s["ended_here"])
               for n, s in steps.items()}
    assert figures == {1: (6, 3, 1, 2), 2: (4, 4, 0, 0), 3: (4, 1, 0, 1), 4: (1, 1, 0, 0)}
    # email: done after 2h, 2h, 2h and skipped after 3h; the wait is a day; lead 0's call
    # came due when the wait ended (T0+2h+1d) and was done at T0+1d+6h.
    assert [steps[str(n)]["median_seconds_on_step"] for n in (1, 2, 3, 4)] == [
        2 * 3600, 86400, 4 * 3600, (2 * D - (D + 6 * H)).total_seconds()]

    human = env.cli("sequence", "stats", "Outreach").stdout
    assert "25.0%" in human and "success rate = " in human and "2h 00m" in human

    rows = list(csv.DictReader(io.StringIO(
        env.cli("sequence", "stats", "Outreach", "--csv").stdout)))
    assert {"scope": "sequence", "position": "", "step_id": "", "step": "",
            "metric": "success_rate", "value": "0.25"} in rows
    assert [r["value"] for r in rows if r["position"] == "3" and r["metric"] == "reached"] == ["4"]

    later = json.loads(env.cli("--json", "sequence", "stats", "Outreach",
                               "--since", (T0 + D).date().isoformat()).stdout)
    assert later["connected"] == 0  # every connection started on the first day
    assert later["ended"] == {"closed_lost_or_disqualified": 1, "completed": 1}
    assert later["success_rate"] == 0.0


def test_stats_compares_every_sequence(env: World) -> None:
    build_history(env)
    env.sequence(name="Idle", text=THREE_STEPS)
    result = env.cli("--json", "stats")
    assert result.exit_code == 0, result.stderr
    listed = {s["sequence"]: s for s in json.loads(result.stdout)["sequences"]}
    assert (listed["Outreach"]["connected"], listed["Outreach"]["success_rate"]) == (6, 0.25)
    assert (listed["Idle"]["connected"], listed["Idle"]["success_rate"]) == (0, None)
    table = list(csv.reader(io.StringIO(env.cli("stats", "--csv").stdout)))
    assert table[0][:3] == ["sequence", "status", "connected"]
    assert sorted(row[0] for row in table[1:]) == ["Idle", "Outreach"]


def test_stats_input_errors_are_one_line(env: World) -> None:
    env.sequence(text=THREE_STEPS)
    bad = env.cli("sequence", "stats", "Outreach", "--since", "last week")
    assert bad.exit_code == 2 and "--since 'last week': expected a date" in bad.stderr
    both = env.cli("--json", "sequence", "stats", "Outreach", "--csv")
    assert both.exit_code == 2 and "--csv and --json: choose one" in both.stderr
    missing = env.cli("sequence", "stats", "Nope")
    assert missing.exit_code == 2 and "no sequence named or with id 'Nope'" in missing.stderr


def test_branch_counts_of_a_condition_step(env: World) -> None:
    from connector.app import open_app
    from connector.engine.models import Condition, ConditionKind, Sequence, Step, StepType
    from connector.pipeline.context import Message

    env.sync(T0)
    email = Step(id="00000000-0000-4000-8000-0000000000e1", type=StepType.EMAIL, name="Hello")
    check = Step(
        id="00000000-0000-4000-8000-0000000000c1", type=StepType.CONDITION, name="Done?",
        condition=Condition(ConditionKind.PREVIOUS, previous="completed"),
        then=(Step(id="00000000-0000-4000-8000-0000000000c2", type=StepType.PHONECALL,
                   name="Call"),),
        otherwise=(Step(id="00000000-0000-4000-8000-0000000000c3", type=StepType.TASK,
                        name="Retry"),),
    )
    with open_app(env.settings, now=T0) as app:
        seq = app.execute(Message.CREATE, Sequence(id="", name="Branchy", entity="lead",
                                                   steps=(email, check)))
        app.execute(Message.ACTIVATE, seq.id)
    leads = env.open_leads(3)
    env.connect(seq.id, leads)
    env.sync(T0)
    env.complete("emails", activity_of(env, "emails", leads[0]), T0 + H)
    env.complete("emails", activity_of(env, "emails", leads[1]), T0 + H)
    env.complete("emails", activity_of(env, "emails", leads[2]), T0 + H, cancel=True)
    env.sync(T0 + 2 * H)
    stats = json.loads(env.cli("--json", "sequence", "stats", "Branchy").stdout)
    steps = {s["position"]: s for s in stats["steps"]}
    assert list(steps) == ["1", "2", "2.then.1", "2.else.1"]
    assert steps["2"]["branches"] == {"then": 2, "else": 1}
    assert (steps["2"]["reached"], steps["2"]["completed"]) == (3, 3)
    assert steps["2.then.1"]["reached"] == 2 and steps["2.else.1"]["reached"] == 1
    human = env.cli("sequence", "stats", "Branchy").stdout
    assert "then: 2" in human and "else: 1" in human
