"""`seqsync status`: work coming due in the next 24 hours per sequence, times in the
configured time zone, and no raw ISO timestamps in its tables."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from support.world import T0, THREE_STEPS, World


def test_status_shows_work_due_per_sequence_in_the_configured_zone(env: World) -> None:
    env.write_config(display={"timezone": "Europe/Paris"})
    env.sync(T0)
    outreach = env.sequence("Outreach", text=THREE_STEPS)
    first, second, third = env.open_leads(3)
    env.connect(outreach, [first, second])
    env.sync(T0 + timedelta(minutes=1))  # both emails created: the connections wait for them
    email = next(e for e in env.crm.rows("emails")
                 if str(e["_regardingobjectid_value"]) == first)
    env.complete("emails", str(email["activityid"]), T0 + timedelta(hours=1))
    env.sync(T0 + timedelta(hours=2))  # first lead: call due a day after the completion
    later = env.sequence("Later", text=THREE_STEPS)
    env.connect(later, [third])  # due at once, not yet planned

    now = T0 + timedelta(hours=3)
    data = json.loads(env.cli("--json", "status", now=now).stdout)
    assert data["timezone"] == "Europe/Paris"
    due = {d["sequence"]: d for d in data["due_soon"]["sequences"]}
    assert due["Outreach"]["due_now"] == 0 and due["Outreach"]["due_later"] == 1
    assert due["Outreach"]["next_due"] == (T0 + timedelta(days=1, hours=1)).isoformat()
    assert due["Later"]["due_now"] == 1 and due["Later"]["due_later"] == 0

    text = env.cli("status", now=now).stdout
    assert "work coming due (next 24 hours, times in Europe/Paris)" in text
    assert "2026-03-03 11:00 CET" in text  # 10:00 UTC the next day, in Paris
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), "raw ISO time in a table"

    nothing_soon = json.loads(env.cli("--json", "status", "--hours", "1", now=now).stdout)
    assert [d["sequence"] for d in nothing_soon["due_soon"]["sequences"]] == ["Later"]


def test_an_unknown_time_zone_is_a_config_error(env: World) -> None:
    env.write_config(display={"timezone": "Mars/Olympus"})
    result = env.cli("status")
    assert result.exit_code == 2
    assert "[display] timezone" in result.stderr and "Mars/Olympus" in result.stderr
