"""Moving an installation: `seqsync state copy --to postgresql+psycopg://...`."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from support.world import EMAIL_THEN_CALL, T0, make_world

from connector.store.schema import connection_history, connections, outbox, runs, sync_state


def test_copy_to_postgresql_then_sync_there_without_duplicate_or_loss(
    tmp_path, monkeypatch, pg_url
) -> None:
    with make_world(tmp_path, monkeypatch, generate={"leads": 12}) as env:
        env.sync(T0)
        seq = env.sequence(text=EMAIL_THEN_CALL)
        leads = env.open_leads(8)
        env.connect(seq, leads)
        env.sync(T0 + timedelta(minutes=1))  # the emails go out from SQLite
        assert len(env.crm.rows("emails")) == 8
        sqlite_state = env.snapshot()

        result = env.cli("--json", "state", "copy", "--to", pg_url)
        assert result.exit_code == 0, result.output
        copied = {c["name"]: c for c in json.loads(result.stdout)["copied"]}
        for name in ("connections", "outbox", "connection_history", "runs", "sync_state"):
            assert copied[name]["source"] == copied[name]["target"] > 0, name

        env.state_url = pg_url
        env.write_config()
        assert env.snapshot() == sqlite_state  # the same rows, read back from PostgreSQL
        for email in env.crm.rows("emails"):
            env.complete("emails", str(email["activityid"]), T0 + timedelta(hours=1))
        report = env.sync(T0 + timedelta(days=3))  # the calls fall due
        assert report.outcome == "ok"
        assert len(env.crm.rows("emails")) == 8  # no email sent twice
        calls = Counter(str(c["_regardingobjectid_value"]) for c in env.crm.rows("phonecalls"))
        assert calls == Counter(leads)  # one call per lead, none lost
        assert len(env.db(runs)) == len(sqlite_state["runs"]) + 1  # run ids went on
        assert len(env.db(connection_history)) > len(sqlite_state["connection_history"])
        assert {o.status for o in env.db(outbox)} == {"pushed"}
        assert len(env.db(connections)) == 8 and env.db(sync_state)


def test_copy_refuses_a_target_that_is_not_empty(tmp_path, monkeypatch, pg_url) -> None:
    with make_world(tmp_path, monkeypatch, generate={"leads": 3}) as env:
        env.sync(T0)
        assert env.cli("state", "copy", "--to", pg_url).exit_code == 0
        again = env.cli("state", "copy", "--to", pg_url)
        assert again.exit_code == 2
        assert "is not empty" in again.output and "copy into an empty database" in again.output
        assert "Traceback" not in again.output
