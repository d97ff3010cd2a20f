"""Engine-only benchmark: plan N due connections (default 1,000,000), store + pipeline, no HTTP.

    python bench/bench_engine.py [--size 1000000]          (make bench-engine)

A child process seeds a SQLite state (one active email -> wait -> phone call sequence, N open
leads, N connections due at step 1) with plain executemany; a second child runs
`connector.sync.plan.plan_due_batches` to the end, exactly as `seqsync sync` does, and is
measured by GNU time (wall, CPU, peak RSS of that process alone). Prints a line per figure,
then one JSON line; exits 1 if the planned count is not N or the outbox is not one item per
connection.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil

CONNECTED = "2026-11-30 08:00:00.000000"  # the store keeps naive UTC in SQLite
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TIME = "/usr/bin/time"
SEED_BATCH = 50_000


def _settings(db: Path):  # type: ignore[no-untyped-def]
    from connector.config import Settings

    return Settings.model_validate({"state": {"url": f"sqlite:///{db}"}})


def seed(db: Path, size: int) -> None:
    from connector.app import open_app

    open_app(_settings(db)).close()  # creates and migrates the schema
    seq_id, steps = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    owner = str(uuid.uuid4())
    with sqlite3.connect(db) as con:
        con.execute(
            "INSERT INTO sequences (id, name, name_key, description, entity, status, owner, "
            "created_on, modified_on) VALUES (?, 'Bench', 'bench', '', 'lead', 'active', '', ?, ?)",
            (seq_id, CONNECTED, CONNECTED))
        con.executemany(
            "INSERT INTO steps (id, sequence_id, position, type, name, description, template, "
            "wait_days, wait_hours) VALUES (?, ?, ?, ?, ?, '', NULL, ?, 0)",
            [(steps[0], seq_id, 1, "email", "Hello", 0), (steps[1], seq_id, 2, "wait", "", 2),
             (steps[2], seq_id, 3, "phonecall", "Call", 0)])
        for start in range(0, size, SEED_BATCH):
            ids = [(str(uuid.uuid4()), str(uuid.uuid4()))
                   for _ in range(min(SEED_BATCH, size - start))]
            con.executemany(
                "INSERT INTO records (id, \"table\", name, owner_id, is_open, is_deleted, "
                "statecode, "
                "email, phone, columns) VALUES (?, 'lead', ?, ?, 1, 0, 0, ?, NULL, '{}')",
                [(r, f"Lead {r[:8]}", owner, f"{r[:8]}@example.com") for r, _ in ids])
            con.executemany(
                "INSERT INTO connections (id, record_id, sequence_id, step_id, state, due_at, "
                "activity_id, attempt, connected_on, step_started_on) "
                "VALUES (?, ?, ?, ?, 'scheduled', ?, NULL, 0, ?, ?)",
                [(c, r, seq_id, steps[0], CONNECTED, CONNECTED, CONNECTED) for r, c in ids])


def plan(db: Path) -> None:
    from connector.app import open_app
    from connector.sync.plan import plan_due_batches

    app = open_app(_settings(db))
    started = time.perf_counter()
    planned = connections = 0
    for result in plan_due_batches(app, NOW, batch_size=5000):
        planned += result.planned
        connections += result.connections
    app.close()
    print(json.dumps({"planned": planned, "connections": connections,
                      "plan_s": round(time.perf_counter() - started, 2)}))


def _child(*args: str, timing: Path | None = None) -> str:
    command = [sys.executable, __file__, *args]
    if timing is not None:
        command = [TIME, "-o", str(timing), "-f", "%e %U %S %M", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the state in this folder")
    parser.add_argument("--role", choices=("seed", "plan"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "seed":
        seed(args.db, args.size)
        return 0
    if args.role == "plan":
        plan(args.db)
        return 0
    folder = args.keep or Path(tempfile.mkdtemp(prefix="seqsync-bench-engine-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = (folder / "state.db").resolve()
    for stale in folder.glob("state.db*"):
        stale.unlink()
    try:
        print(f"seeding {args.size:,} due connections ...", file=sys.stderr)
        started = time.perf_counter()
        _child("--role", "seed", "--db", str(db), "--size", str(args.size))
        seed_s = time.perf_counter() - started
        timing = folder / "plan.time"
        print("planning ...", file=sys.stderr)
        out = json.loads(_child("--role", "plan", "--db", str(db), timing=timing).splitlines()[-1])
        wall, user, system, peak_kb = timing.read_text().split()[-4:]
        with sqlite3.connect(db) as con:
            outbox = con.execute("SELECT count(*), count(DISTINCT connection_id) FROM outbox "
                                 "WHERE status = 'pending'").fetchone()
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    result = {
        "bench": "engine", "connections": args.size, "seed_s": round(seed_s, 1),
        "plan_s": out["plan_s"], "process_wall_s": float(wall),
        "cpu_s": round(float(user) + float(system), 2),
        "peak_rss_mb": round(float(peak_kb) / 1024, 1), "planned": out["planned"],
        "outbox_items": outbox[0], "outbox_connections": outbox[1],
        "per_connection_us": round(out["plan_s"] / max(1, args.size) * 1e6, 1),
        "targets": {"plan_s_max": 60, "peak_rss_mb_max": 500},
        "machine": {"cpus": psutil.cpu_count(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
    }
    ok = out["planned"] == args.size == outbox[0] == outbox[1]
    result["ok"] = ok
    for key in ("connections", "plan_s", "cpu_s", "peak_rss_mb", "planned", "outbox_items",
                "per_connection_us"):
        print(f"{key:<20}{result[key]}")
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
