"""Issue 10, defect 2 (sync side): a delta token the CRM rejects as invalid (a restored or copied
environment) is recovered through the CLI like an expired one; `sync --full` on demand."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import create_engine, update
from support.world import EMAIL_THEN_CALL, T0, World

from connector.store.schema import records, sync_state


def _spoil_saved_token(env: World, entity_set: str) -> None:
    """What an environment restore does: the saved token names a version this CRM never
    issued, and the mock answers 400 0x80060888 "The delta token ... is not valid"."""
    engine = create_engine(env.settings.state.url)
    try:
        with engine.begin() as conn:
            key = f"delta:{entity_set}"
            link = conn.execute(sync_state.select().where(sync_state.c.key == key)).one().value
            spoiled = re.sub(r"\$deltatoken=\d+", "$deltatoken=99999999", link)
            assert spoiled != link
            conn.execute(update(sync_state).where(sync_state.c.key == key).values(value=spoiled))
    finally:
        engine.dispose()


def _summary(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_invalid_delta_token_is_recovered_with_nothing_lost(env: World) -> None:
    assert env.cli("sync", now=T0).exit_code == 0
    seq = env.sequence(text=EMAIL_THEN_CALL)
    renamed, deleted, connected = env.open_leads(3)
    env.connect(seq, [deleted, connected])
    env.crm.update("leads", renamed, {"fullname": "Renamed After The Restore"})
    env.crm.delete("leads", deleted)
    _spoil_saved_token(env, "leads")

    result = env.cli("sync", now=T0 + timedelta(minutes=1))
    assert result.exit_code == 0, result.output
    summary = _summary(result)
    assert summary["outcome"] == "ok" and summary["full_reads"] == ["leads"]
    assert summary["records_disconnected"] == {"record_deleted": 1}
    warnings = [json.loads(line) for line in result.stderr.splitlines()
                if line.startswith("{") and json.loads(line)["level"] == "warning"]
    assert any("not valid" in w["msg"] and "leads" in w["msg"] for w in warnings)
    local = {r.id: r for r in env.db(records)}
    assert local[renamed].name == "Renamed After The Restore"
    assert local[deleted].is_deleted
    assert [str(e["_regardingobjectid_value"]) for e in env.crm.rows("emails")] == [connected]

    # The new token works: the next run reads changes only, no second full read.
    again = env.cli("sync", now=T0 + timedelta(minutes=2))
    assert again.exit_code == 0 and _summary(again)["full_reads"] == []


def test_sync_full_rereads_every_table_on_demand(env: World) -> None:
    assert env.cli("sync", now=T0).exit_code == 0
    gone = env.open_leads(1)[0]
    env.crm.delete("leads", gone)
    before = env.crm.stats()["requests"]["by_route"]
    result = env.cli("sync", "--full", now=T0 + timedelta(minutes=1))
    assert result.exit_code == 0, result.output
    summary = _summary(result)
    # Every table, activity tables included (their deletions count as skipped steps).
    assert sorted(summary["full_reads"]) == ["emails", "leads", "opportunities", "phonecalls",
                                             "tasks"]
    assert summary["rows_pulled"] == {"lead": 19, "opportunity": 6}
    assert summary["rows_deleted"] == {"lead": 1}
    after = env.crm.stats()["requests"]["by_route"]
    assert sum(after.values()) > sum(before.values())
