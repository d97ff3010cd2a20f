"""Pacing end to end: daily caps per owner (global and per sequence) across days, owners' time
zones from their CRM user settings, working hours and business-day waits."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from support.world import EMAIL_THEN_CALL, T0, World

from connector.app import open_app
from connector.engine.models import ConnectRequest
from connector.pipeline.context import Message
from connector.store.schema import outbox, owner_settings

H = timedelta(hours=1)
D = timedelta(days=1)


def leads_of_one_owner(env: World, n: int) -> tuple[str, list[str]]:
    by_owner: dict[str, list[str]] = {}
    for row in sorted(env.crm.rows("leads"), key=lambda r: r["leadid"]):
        if row["statecode"] == 0:
            by_owner.setdefault(str(row["_ownerid_value"]), []).append(str(row["leadid"]))
    owner, leads = max(by_owner.items(), key=lambda item: len(item[1]))
    assert len(leads) >= n
    return owner, leads[:n]


def connect_one_by_one(env: World, seq: str, leads: list[str], start: datetime) -> None:
    """Each lead connected a minute after the one before: that is their due order."""
    with open_app(env.settings) as app:
        for n, lead in enumerate(leads):
            app.execute(Message.CONNECT, ConnectRequest(seq, [lead]),
                        now=start + timedelta(minutes=n))


def emails_by_record(env: World) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for email in env.crm.rows("emails"):
        found.setdefault(str(email["_regardingobjectid_value"]), []).append(email)
    return found


def test_global_cap_holds_back_in_due_order_and_creates_each_later_exactly_once(env: World):
    env.write_config(pacing={"max_per_owner_per_day": 2})
    env.sync(T0)
    owner, leads = leads_of_one_owner(env, 5)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    # Connected in reverse order: the last lead is due first.
    connect_one_by_one(env, seq, list(reversed(leads)), T0)
    created: list[list[str]] = []
    for day in range(4):
        for run in range(2):  # a second run the same day adds nothing
            report = env.sync(T0 + day * D + H + run * H)
            assert report.outcome == "ok"
        by_record = emails_by_record(env)
        created.append(sorted(lead for lead in leads if lead in by_record))
        if day == 0:
            status = json.loads(env.cli("--json", "status", now=T0 + 2 * H).stdout)
            (held,) = status["held_back"]
            assert held["connections"] == 3
            assert f"owner {owner} reached [pacing] max_per_owner_per_day = 2" in held["reason"]
    due_order = list(reversed(leads))
    assert created[0] == sorted(due_order[:2])
    assert created[1] == sorted(due_order[:4])
    assert created[2] == created[3] == sorted(leads)
    assert all(len(emails) == 1 for emails in emails_by_record(env).values())
    per_day = Counter(row.created_on.date() for row in env.db(outbox))
    assert sorted(per_day.values()) == [1, 2, 2]
    status = json.loads(env.cli("--json", "status", now=T0 + 3 * D).stdout)
    assert status["held_back"] == []
    settings = {row.owner_id: row for row in env.db(owner_settings)}
    assert settings[owner].timezone in {"Europe/London", "Europe/Paris", "America/New_York",
                                        "America/Los_Angeles"}


def test_a_sequence_cap_applies_to_that_sequence_only(env: World):
    env.sync(T0)
    _, leads = leads_of_one_owner(env, 4)
    capped = EMAIL_THEN_CALL + "\n[pacing]\nmax_per_owner_per_day = 1\n"
    slow = env.sequence(name="Slow", text=capped)
    free = env.sequence(name="Free", text=EMAIL_THEN_CALL)
    connect_one_by_one(env, slow, leads[:2], T0)
    connect_one_by_one(env, free, leads[2:], T0)
    report = env.sync(T0 + H)
    assert report.activities_created == {"email": 3}
    env.sync(T0 + D + H)
    assert sum(len(e) for e in emails_by_record(env).values()) == 4
    shown = json.loads(env.cli("--json", "sequence", "show", "Slow").stdout)
    assert shown["pacing"] == {"max_per_owner_per_day": 1, "business_days": False}


def test_business_day_waits_in_the_owners_time_zone_and_working_hours(env: World):
    env.write_config(pacing={"working_hours": True, "business_days": True})
    env.sync(T0)
    blake = next(str(u["systemuserid"]) for u in env.crm.rows("systemusers")
                 if u["fullname"] == "Blake Seller")  # Eastern time, 09:00-18:00
    lead = next(str(r["leadid"]) for r in env.crm.rows("leads")
                if r["statecode"] == 0 and str(r["_ownerid_value"]) == blake)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    friday_night = datetime(2026, 3, 6, 3, 0, tzinfo=UTC)  # Thursday 22:00 in New York
    connect_one_by_one(env, seq, [lead], friday_night)
    env.sync(friday_night + H)
    assert env.crm.rows("emails") == []  # outside Blake's working hours
    env.sync(datetime(2026, 3, 6, 14, 30, tzinfo=UTC))
    (email,) = env.crm.rows("emails")
    # Planned for the next opening: Friday 09:00 EST = 14:00 UTC.
    assert str(email["scheduledend"]).startswith("2026-03-06T14:00")
    done = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # Friday 16:00 EST
    env.complete("emails", str(email["activityid"]), done)
    for moment in (datetime(2026, 3, 8, 22, tzinfo=UTC), datetime(2026, 3, 9, 22, tzinfo=UTC)):
        env.sync(moment)  # Sunday (the calendar wait is over), Monday: one business day
        assert env.crm.rows("phonecalls") == []
    env.sync(datetime(2026, 3, 10, 21, tzinfo=UTC))
    (call,) = env.crm.rows("phonecalls")
    # Two business days after Friday 16:00 EST: Tuesday 16:00 EDT (clocks moved on Sunday).
    assert str(call["scheduledend"]).startswith("2026-03-10T20:00")


def test_bad_pacing_settings_are_one_line_errors(env: World):
    for pacing, message in (
        ({"max_per_owner_per_day": 0}, "[pacing] max_per_owner_per_day"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"weekdays": [7]}, "use 0 (Monday) to 6 (Sunday)"),
    ):
        env.write_config(pacing=pacing)
        result = env.cli("sync")
        assert result.exit_code == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    env.write_config()
    bad = env.folder / "bad.toml"
    bad.write_text(EMAIL_THEN_CALL.format(name="Bad", entity="lead")
                   + "\n[pacing]\nmax_per_owner_per_day = 0\n")
    result = env.cli("sequence", "apply", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: [pacing] max_per_owner_per_day must be a whole number of at least 1" in (
        result.stderr)
