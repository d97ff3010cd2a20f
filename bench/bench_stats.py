"""`sequence stats` over a big history: 1,000,000 history rows for one sequence (default).

    python bench/bench_stats.py [--rows 1000000]

Seeds a SQLite state with plain executemany: a five-step sequence (email, wait, call, wait,
task) whose connections each leave 4 to 10 history lines (connected, planned, completed or
skipped, ended by completion, disconnection or a closed record), plus a second sequence with a
fifth as many rows so the queries must stay inside their sequence's index range. Then times
`connector.store.stats.history_counts` (what `seqsync sequence stats` runs) and
`summary_counts` (`seqsync stats`) in-process, best and median of 5 each, and the whole
`seqsync sequence stats Bench --json` command in a child process. Prints the query plans and
one JSON line. The issue's target: under 2 s for 1,000,000 rows. Not a test: nothing asserts
on time; it exits 1 only if the counts are wrong.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 1, 5, 9, 0)
BATCH = 100_000


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # the store keeps naive UTC in SQLite


def sequence_rows(con: sqlite3.Connection, name: str) -> tuple[str, list[str]]:
    seq_id = str(uuid.uuid4())
    steps = [str(uuid.uuid4()) for _ in range(5)]
    con.execute(
        "INSERT INTO sequences (id, name, name_key, description, entity, status, owner, "
        "created_on, modified_on, tags) VALUES (?, ?, ?, '', 'lead', 'active', 'bench', ?, ?, "
        "'[]')", (seq_id, name, name.lower(), stamp(T0), stamp(T0)))
    kinds = [("email", 0), ("wait", 2), ("phonecall", 0), ("wait", 3), ("task", 0)]
    con.executemany(
        "INSERT INTO steps (id, sequence_id, position, type, name, description, template, "
        "wait_days, wait_hours) VALUES (?, ?, ?, ?, ?, '', NULL, ?, 0)",
        [(steps[n], seq_id, n + 1, kind, kind if kind != "wait" else "", days)
         for n, (kind, days) in enumerate(kinds)])
    return seq_id, steps


def connection_story(rng: random.Random, seq_id: str, steps: list[str], name: str,
                     record_id: str) -> tuple[list[tuple], bool]:
    """History lines of one connection, and whether it is still on the sequence."""
    conn_id = str(uuid.uuid4())
    at = T0 + timedelta(minutes=rng.randrange(60 * 24 * 60))
    rows = [(conn_id, record_id, seq_id, name, "connected", steps[0], stamp(at), None)]
    for position, step in enumerate(steps):
        if position % 2:  # a wait completes by itself
            at += timedelta(days=2 + position)
            rows.append((conn_id, record_id, seq_id, name, "step_completed", step, stamp(at),
                         None))
            continue
        rows.append((conn_id, record_id, seq_id, name, "step_planned", step, stamp(at), None))
        fate = rng.random()
        if fate < 0.08:
            return rows, True  # still waiting on this activity
        at += timedelta(minutes=rng.randrange(30, 60 * 72))
        if fate < 0.14:
            reason = "record_closed" if fate < 0.11 else "user_disconnected"
            rows.append((conn_id, record_id, seq_id, name, "ended", step, stamp(at), reason))
            return rows, False
        event = "step_skipped" if fate < 0.2 else "step_completed"
        rows.append((conn_id, record_id, seq_id, name, event, step, stamp(at), None))
    rows.append((conn_id, record_id, seq_id, name, "ended", steps[-1], stamp(at), "completed"))
    return rows, False


def seed(db: Path, rows_wanted: int) -> dict[str, int]:
    from connector.app import open_app
    from connector.config import Settings

    open_app(Settings.model_validate({"state": {"url": f"sqlite:///{db}"}})).close()
    rng = random.Random(7)
    written = {"Bench": 0, "Other": 0}
    with sqlite3.connect(db) as con:
        for name, target in (("Bench", rows_wanted), ("Other", rows_wanted // 5)):
            seq_id, steps = sequence_rows(con, name)
            history: list[tuple] = []
            records: list[tuple] = []
            current: list[tuple] = []
            while written[name] < target:
                record_id = str(uuid.uuid4())
                story, active = connection_story(rng, seq_id, steps, name, record_id)
                history.extend(story)
                written[name] += len(story)
                closed = story[-1][7] == "record_closed"
                records.append((record_id, f"Lead {len(records)}", not closed,
                                rng.choice((1, 2)) if closed else 0))
                if active:
                    current.append((story[0][0], record_id, seq_id, story[-1][5], story[-1][6]))
                if len(history) >= BATCH:
                    flush(con, history, records, current)
            flush(con, history, records, current)
    return written


def flush(con: sqlite3.Connection, history: list[tuple], records: list[tuple],
          current: list[tuple]) -> None:
    con.executemany(
        'INSERT INTO records (id, "table", name, is_open, is_deleted, statecode, columns) '
        "VALUES (?, 'lead', ?, ?, 0, ?, '{}')", records)
    con.executemany(
        "INSERT INTO connections (id, record_id, sequence_id, step_id, state, due_at, attempt, "
        "connected_on, step_started_on) VALUES (?, ?, ?, ?, 'waiting', ?, 0, ?, ?)",
        [(c, r, s, st, at, at, at) for c, r, s, st, at in current])
    con.executemany(
        "INSERT INTO connection_history (connection_id, record_id, sequence_id, sequence_name, "
        "event, step_id, at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", history)
    history.clear()
    records.clear()
    current.clear()


def timed(fn, repeat: int = 5) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from connector.store import stats as stats_store
    from connector.store.db import open_store
    from connector.store.sequences import find_sequence

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "state.db"
        start = time.perf_counter()
        written = seed(db, args.rows)
        print(f"seeded {written['Bench']:,} history rows for 'Bench' and {written['Other']:,} "
              f"for 'Other' in {time.perf_counter() - start:.1f} s")
        with sqlite3.connect(db) as con:
            con.execute("ANALYZE")
        store = open_store(f"sqlite:///{db}")
        with store.begin() as conn:
            seq = find_sequence(conn, "Bench")
            one_best, one_median, counts = timed(lambda: stats_store.history_counts(conn, seq.id))
            all_best, all_median, _ = timed(
                lambda: stats_store.summary_counts(conn, [seq.id]))
            since = datetime(2026, 2, 15, tzinfo=UTC)
            since_best, _, _ = timed(lambda: stats_store.history_counts(conn, seq.id, since))
            for line in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT event, reason, step_id, count(*) FROM "
                "connection_history WHERE sequence_id = ? AND event IN ('connected', 'ended', "
                "'step_completed', 'step_skipped') GROUP BY event, reason, step_id", (seq.id,)
            ):
                print("  plan (counts):", line[-1])
        store.close()
        print(f"history_counts (sequence stats): best {one_best:.3f} s, median "
              f"{one_median:.3f} s")
        print(f"history_counts --since (about half the rows): best {since_best:.3f} s")
        print(f"summary_counts (seqsync stats, all rows): best {all_best:.3f} s, median "
              f"{all_median:.3f} s")
        config = Path(folder) / "seqsync.toml"
        config.write_text(f'[state]\nurl = "sqlite:///{db}"\n')
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "connector", "--config", str(config), "--json", "sequence",
             "stats", "Bench"], capture_output=True, text=True, check=False)
        command_wall = time.perf_counter() - start
        print(f"`seqsync sequence stats Bench --json` in a child process: {command_wall:.2f} s "
              "wall (Python start-up included)")
        shown = json.loads(child.stdout) if child.returncode == 0 else {}
        ok = child.returncode == 0 and shown.get("connected") == counts.connected > 0  # type: ignore[union-attr]
        print(f"connected {shown.get('connected')}, success rate {shown.get('success_rate')}, "
              f"median minutes on step 1: "
              f"{(shown.get('steps') or [{}])[0].get('median_seconds_on_step', 0) / 60:.0f}")
        print(json.dumps({"rows": written["Bench"], "other_rows": written["Other"],
                          "history_counts_best_s": round(one_best, 3),
                          "history_counts_median_s": round(one_median, 3),
                          "since_best_s": round(since_best, 3),
                          "summary_counts_best_s": round(all_best, 3),
                          "command_wall_s": round(command_wall, 2), "ok": ok}))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
