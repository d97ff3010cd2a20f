"""Engine-only benchmark: plan N due connections (default 1,000,000), store + pipeline, no HTTP.

    python bench/bench_engine.py [--size 1000000] [--backend sqlite|postgresql|both]
                                 [--workers 1,2] [--pg URL]          (make bench-engine)

A child process seeds the state (one active email -> wait -> phone call sequence, N open
leads, N connections due at step 1): SQLite with plain executemany, PostgreSQL with COPY into a
fresh database. Then `--workers` planning children run `connector.sync.plan.plan_due_batches`
to the end at the same time, exactly as `seqsync sync` does (several workers share the slices on
PostgreSQL), each measured by GNU time (wall, CPU, peak RSS of that process alone). Prints a
line per figure, then one JSON line per run; exits 1 if the planned count is not N or the outbox
is not one item per connection. The PostgreSQL server is `--pg` (a libpq URL whose user may
create databases; default: the local one the tests use).
"""

from __future__ import annotations

import argparse
import io
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
CONNECTED_PG = "2026-11-30 08:00:00+00"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TIME = "/usr/bin/time"
SEED_BATCH = 50_000
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def _settings(url: str):  # type: ignore[no-untyped-def]
    from connector.config import Settings

    return Settings.model_validate({"state": {"url": url}})


def _ids(size: int) -> tuple[str, list[str], str]:
    return str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)], str(uuid.uuid4())


def seed(url: str, size: int) -> None:
    from connector.app import open_app

    open_app(_settings(url)).close()  # creates and migrates the schema
    if url.startswith("sqlite"):
        _seed_sqlite(Path(url.removeprefix("sqlite:///")), size)
    else:
        _seed_postgresql(url, size)


def _seed_sqlite(db: Path, size: int) -> None:
    seq_id, steps, owner = _ids(size)
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


def _seed_postgresql(url: str, size: int) -> None:
    import psycopg

    seq_id, steps, owner = _ids(size)
    with psycopg.connect(_libpq(url)) as con:
        con.execute(
            "INSERT INTO sequences (id, name, name_key, description, entity, status, owner, "
            "created_on, modified_on) VALUES (%s, 'Bench', 'bench', '', 'lead', 'active', '', "
            "%s, %s)", (seq_id, CONNECTED_PG, CONNECTED_PG))
        with con.cursor() as cur:
            cur.executemany(
                "INSERT INTO steps (id, sequence_id, position, type, name, description, "
                "template, wait_days, wait_hours) VALUES (%s, %s, %s, %s, %s, '', NULL, %s, 0)",
                [(steps[0], seq_id, 1, "email", "Hello", 0),
                 (steps[1], seq_id, 2, "wait", "", 2),
                 (steps[2], seq_id, 3, "phonecall", "Call", 0)])
        for start in range(0, size, SEED_BATCH):
            ids = [(str(uuid.uuid4()), str(uuid.uuid4()))
                   for _ in range(min(SEED_BATCH, size - start))]
            recs = io.StringIO("".join(
                f"{r}\tlead\tLead {r[:8]}\t{owner}\tt\tf\t0\t{r[:8]}@example.com\t\\N\t{{}}\n"
                for r, _ in ids))
            conns = io.StringIO("".join(
                f"{c}\t{r}\t{seq_id}\t{steps[0]}\tscheduled\t{CONNECTED_PG}\t\\N\t0\t"
                f"{CONNECTED_PG}\t{CONNECTED_PG}\n" for r, c in ids))
            with con.cursor() as cur:
                with cur.copy('COPY records (id, "table", name, owner_id, is_open, is_deleted, '
                              "statecode, email, phone, columns) FROM STDIN") as copy:
                    copy.write(recs.getvalue())
                with cur.copy("COPY connections (id, record_id, sequence_id, step_id, state, "
                              "due_at, activity_id, attempt, connected_on, step_started_on) "
                              "FROM STDIN") as copy:
                    copy.write(conns.getvalue())
            con.commit()
        con.execute("ANALYZE")


def plan(url: str) -> None:
    from connector.app import open_app
    from connector.sync.plan import plan_due_batches

    app = open_app(_settings(url))
    started = time.perf_counter()
    planned = connections = 0
    for result in plan_due_batches(app, NOW, batch_size=5000):
        planned += result.planned
        connections += result.connections
    app.close()
    print(json.dumps({"planned": planned, "connections": connections,
                      "plan_s": round(time.perf_counter() - started, 2)}))


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _command(*args: str, timing: Path | None = None) -> list[str]:
    command = [sys.executable, __file__, *args]
    if timing is not None:
        command = [TIME, "-o", str(timing), "-f", "%e %U %S %M", *command]
    return command


def _child(*args: str) -> str:
    done = subprocess.run(_command(*args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} {args[1]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _outbox_counts(url: str) -> tuple[int, int]:
    query = ("SELECT count(*), count(DISTINCT connection_id) FROM outbox "
             "WHERE status = 'pending'")
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            return con.execute(query).fetchone()
    import psycopg

    with psycopg.connect(_libpq(url)) as con:
        row = con.execute(query).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def _server_settings(server: str) -> dict[str, str]:
    """The server settings the figures depend on most, printed with them."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        return {name: str(admin.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("server_version", "shared_buffers", "max_wal_size", "work_mem")}


def _fresh_postgresql(server: str) -> tuple[str, str]:
    """A new database on `server`: (SQLAlchemy URL, name)."""
    import psycopg

    name = f"seqsync_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = server.rpartition("/")[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1), name


def _drop_postgresql(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_once(backend: str, size: int, workers: int, server: str, keep: Path | None
             ) -> dict[str, object]:
    folder = keep or Path(tempfile.mkdtemp(prefix="seqsync-bench-engine-"))
    folder.mkdir(parents=True, exist_ok=True)
    pg_name = None
    if backend == "sqlite":
        db = (folder / "state.db").resolve()
        for stale in folder.glob("state.db*"):
            stale.unlink()
        url = f"sqlite:///{db}"
    else:
        url, pg_name = _fresh_postgresql(server)
    try:
        print(f"{backend}: seeding {size:,} due connections ...", file=sys.stderr)
        started = time.perf_counter()
        _child("--role", "seed", "--url", url, "--size", str(size))
        seed_s = time.perf_counter() - started
        print(f"{backend}: planning with {workers} worker(s) ...", file=sys.stderr)
        timings = [folder / f"plan-{n}.time" for n in range(workers)]
        started = time.perf_counter()
        procs = [subprocess.Popen(_command("--role", "plan", "--url", url, timing=t),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for t in timings]
        outs = []
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"plan failed:\n{err[-3000:]}")
            outs.append(json.loads(out.splitlines()[-1]))
        wall_all = time.perf_counter() - started
        figures = [t.read_text().split()[-4:] for t in timings]
        outbox = _outbox_counts(url)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
        if pg_name is not None and keep is None:
            _drop_postgresql(server, pg_name)
    planned = sum(int(o["planned"]) for o in outs)
    result: dict[str, object] = {
        "bench": "engine", "backend": backend, "workers": workers, "connections": size,
        "seed_s": round(seed_s, 1), "plan_wall_s": round(wall_all, 2),
        "cpu_s": round(sum(float(u) + float(s) for _, u, s, _ in figures), 2),
        "peak_rss_mb_per_worker": [round(float(kb) / 1024, 1) for *_, kb in figures],
        "planned_per_worker": [o["planned"] for o in outs], "planned": planned,
        "outbox_items": outbox[0], "outbox_connections": outbox[1],
        "per_connection_us": round(wall_all / max(1, size) * 1e6, 1),
        "targets": {"plan_s_max": 60, "peak_rss_mb_max": 500},
        "server": _server_settings(server) if backend == "postgresql" else None,
        "machine": {"cpus": psutil.cpu_count(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_avg_1m_at_end": round(psutil.getloadavg()[0], 2)},
    }
    result["ok"] = planned == size == outbox[0] == outbox[1]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--workers", default="1",
                        help="planning workers at once, comma-separated runs (PostgreSQL)")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server (libpq URL)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the state in this folder")
    parser.add_argument("--role", choices=("seed", "plan"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "seed":
        seed(args.url, args.size)
        return 0
    if args.role == "plan":
        plan(args.url)
        return 0
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    ok = True
    for backend in backends:
        counts = [int(n) for n in args.workers.split(",")] if backend == "postgresql" else [1]
        for workers in counts:
            result = run_once(backend, args.size, workers, args.pg, args.keep)
            ok &= bool(result["ok"])
            for key in ("backend", "workers", "connections", "plan_wall_s", "cpu_s",
                        "peak_rss_mb_per_worker", "planned_per_worker", "outbox_items",
                        "per_connection_us"):
                print(f"{key:<24}{result[key]}")
            print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
