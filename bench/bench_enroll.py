"""Segments at scale: one sync's enrolment of 100,000 matching records (default).

    python bench/bench_enroll.py [--size 100000]

Seeds a SQLite state with plain executemany: `size` open leads whose companyname is Contoso
(the rule matches them all), 10% of them already on another sequence, and as many
non-matching leads. A sequence with `[enroll] where = ["companyname=Contoso"]` and
max_per_run = size then goes through the sync's enrol phase (`connector.sync.enroll.enroll`:
the rule's query, then Connect messages of 5,000), timed in-process, followed by the plan
phase that turns every new connection into an outbox email, and a second enrol pass that finds
nothing new. Peak RSS from psutil. Prints a line per figure and one JSON line; exits 1 if the
counts are wrong. Not a test: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
STAMP = "2026-11-30 08:00:00.000000"
BATCH = 50_000
RULE = """name = "Contoso"
entity = "lead"
[[steps]]
type = "email"
name = "Hello"
[[steps]]
type = "wait"
days = 2
[[steps]]
type = "phonecall"
name = "Call"
[enroll]
where = ["companyname=Contoso"]
max_per_run = {size}
"""


def seed(db: Path, size: int, other_seq: str, other_step: str) -> None:
    owner = str(uuid.uuid4())
    with sqlite3.connect(db) as con:
        for start in range(0, 2 * size, BATCH):
            rows = []
            for n in range(start, min(start + BATCH, 2 * size)):
                company = "Contoso" if n < size else "Fabrikam"
                rows.append((str(uuid.uuid4()), f"Lead {n}", owner,
                             json.dumps({"companyname": company})))
            con.executemany(
                'INSERT INTO records (id, "table", name, owner_id, is_open, is_deleted, '
                "statecode, columns) VALUES (?, 'lead', ?, ?, 1, 0, 0, ?)", rows)
            taken = [r for n, r in enumerate(rows, start=start) if n < size and n % 10 == 0]
            con.executemany(
                "INSERT INTO connections (id, record_id, sequence_id, step_id, state, due_at, "
                "attempt, connected_on, step_started_on) "
                "VALUES (?, ?, ?, ?, 'waiting', ?, 0, ?, ?)",
                [(str(uuid.uuid4()), r[0], other_seq, other_step, STAMP, STAMP, STAMP)
                 for r in taken])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    from connector.app import open_app
    from connector.config import Settings
    from connector.engine.models import SequenceStatus
    from connector.pipeline.context import Message
    from connector.sequence_file import load_sequence_file
    from connector.sync.enroll import enroll
    from connector.sync.plan import plan
    from connector.sync.progress import LogProgress
    from connector.sync.report import RunReport
    from connector.sync.run_context import SyncContext

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "state.db"
        settings = Settings.model_validate({"state": {"url": f"sqlite:///{db}"}})
        app = open_app(settings, now=NOW)
        other_file = Path(folder) / "other.toml"
        other_file.write_text(RULE.format(size=1).replace('"Contoso"', '"Other"', 1)
                              .split("[enroll]")[0])
        other = app.execute(Message.CREATE, load_sequence_file(other_file))
        app.execute(Message.ACTIVATE, other.id)
        started = time.perf_counter()
        seed(db, args.size, other.id, other.steps[0].id)
        print(f"seeded {2 * args.size:,} leads ({args.size:,} matching, "
              f"{args.size // 10:,} of them on another sequence) in "
              f"{time.perf_counter() - started:.1f} s")
        rule_file = Path(folder) / "contoso.toml"
        rule_file.write_text(RULE.format(size=args.size))
        seq = app.execute(Message.CREATE, load_sequence_file(rule_file))
        seq = app.execute(Message.ACTIVATE, seq.id)
        assert seq.status is SequenceStatus.ACTIVE
        report = RunReport(clock=NOW)
        ctx = SyncContext(app, None, None, settings, NOW, report, LogProgress())  # type: ignore[arg-type]
        process = psutil.Process()
        started = time.perf_counter()
        enroll(ctx)
        enroll_s = time.perf_counter() - started
        rss_enroll = process.memory_info().rss
        started = time.perf_counter()
        plan(ctx)
        plan_s = time.perf_counter() - started
        started = time.perf_counter()
        again = RunReport(clock=NOW)
        enroll(SyncContext(app, None, None, settings, NOW, again, LogProgress()))  # type: ignore[arg-type]
        second_s = time.perf_counter() - started
        app.close()
        enrolled = report.enrolled.get("Contoso", 0)
        wanted = args.size - args.size // 10
        print(f"enrol phase: {enrolled:,} records enrolled in {enroll_s:.2f} s "
              f"({enrolled / enroll_s:,.0f} a second); peak RSS {rss_enroll / 2**20:.0f} MB")
        print(f"plan phase after it: {report.activities_planned:,} emails in the outbox in "
              f"{plan_s:.2f} s")
        print(f"second enrol pass (nothing new): {second_s:.2f} s, "
              f"{again.enrolled.get('Contoso', 0)} enrolled")
        ok = (enrolled == wanted and report.activities_planned == wanted
              and not again.enrolled)
        print(json.dumps({"size": args.size, "enrolled": enrolled,
                          "enroll_s": round(enroll_s, 2), "plan_s": round(plan_s, 2),
                          "second_pass_s": round(second_s, 2),
                          "peak_rss_mb": round(rss_enroll / 2**20), "ok": ok}))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
