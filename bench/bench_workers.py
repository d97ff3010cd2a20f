"""Several workers benchmark: N leads on a PostgreSQL state, planned and pushed by 1, 2, 4
`seqsync sync` processes at once against the mock Dataverse (its own process).

    python bench/bench_workers.py [--sizes 400000,1000000] [--workers 1,2,4] [--pg URL]
                                                               (make bench-workers)

For each size and worker count, on a fresh database and a fresh mock tenant of N leads: one
`seqsync sync` pulls the leads, `connect Bench --where statecode=0` connects the open ones, then
the workers run `seqsync sync` together (plan + push one email per lead), each measured by GNU
time (wall, CPU, peak RSS of that process alone). The mock enforces service protection scaled
to a 30 s window (600 requests per 30 s, 52 concurrent, 20 ms latency) and the workers share
the same budget through `[workers]`, so 429s should stay at 0 however many they are. Web API
requests and 429s come from the mock's `/_mock/stats`; the exactly-once check reads every
activity back from the mock. A line per run, then one JSON line each; exit 1 when a run failed,
an activity was lost or duplicated, or a connected lead got no email.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from scale_harness import TIME, MockProcess, Workspace, api_requests
from scale_tenant import check_exactly_once, crm_client

T_PULL, T_PUSH = "2026-11-30T09:00:00Z", "2026-11-30T09:01:00Z"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
RATE, WINDOW = 600, 30.0
THROTTLED = {"rate_limit": f"{RATE}/{int(WINDOW)}", "concurrency_limit": 52, "latency_ms": 20}


def _fresh_database(server: str) -> tuple[str, str]:
    import psycopg

    name = f"seqsync_workers_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server.rpartition('/')[0]}/{name}"
    return url.replace("postgresql://", "postgresql+psycopg://", 1), name


def _drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _count_connections(url: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as con:
        row = con.execute("SELECT count(*) FROM connections").fetchone()
        return int(row[0]) if row else 0


def _configure(space: Workspace, url: str) -> None:
    text = space.config.read_text(encoding="utf-8")
    text = text.replace(f'url = "sqlite:///{space.state_db}"', f'url = "{url}"\npool_size = 8\n'
                        "max_overflow = 4", 1)
    text += f"[workers]\nrequests_per_window = {RATE}\nwindow_seconds = {WINDOW}\n"
    space.config.write_text(text, encoding="utf-8")


def _run_workers(space: Workspace, count: int) -> list[dict[str, Any]]:
    head = [sys.executable, "-m", "connector", "--config", str(space.config), "--now", T_PUSH,
            "sync"]
    procs = []
    for n in range(count):
        timing = space.folder / f"worker-{n}.time"
        out = (space.folder / f"worker-{n}.out").open("w")
        err = (space.folder / f"worker-{n}.err").open("w")
        procs.append((subprocess.Popen([TIME, "-o", str(timing), "-f", "%e %U %S %M", *head],
                                       stdout=out, stderr=err, env=space.env, cwd=space.folder),
                      timing, out, err))
    results = []
    for n, (proc, timing, out, err) in enumerate(procs):
        proc.wait()
        out.close()
        err.close()
        wall, user, system, peak_kb = timing.read_text().split()[-4:]
        lines = [line for line in (space.folder / f"worker-{n}.out").read_text().splitlines()
                 if line.startswith("{")]
        summary = json.loads(lines[-1]) if lines else {}
        results.append({
            "exit_code": proc.returncode, "wall_s": float(wall),
            "cpu_s": round(float(user) + float(system), 2),
            "peak_rss_mb": round(float(peak_kb) / 1024, 1),
            "activities_planned": summary.get("activities_planned", 0),
            "activities_created": sum(summary.get("activities_created", {}).values()),
            "already_existed": summary.get("activities_already_existed", 0),
            "error": (space.folder / f"worker-{n}.err").read_text()[-500:]
            if proc.returncode else "",
        })
    return results


def run_once(size: int, workers: int, server: str, folder: Path) -> dict[str, Any]:
    url, name = _fresh_database(server)
    try:
        with MockProcess(folder / "mock", size, **THROTTLED) as mock:  # type: ignore[arg-type]
            space = Workspace(folder / "work", mock)
            _configure(space, url)
            pulled = space.seqsync("--json", "sync", now=T_PULL)
            if pulled.exit_code:
                raise SystemExit(f"pull failed: {pulled.stderr[-2000:]}")
            space.seqsync("sequence", "apply", str(space.folder / "sequence.toml"), "--activate")
            # At the pull's time, as every step here: connected "now" (the wall clock) would be
            # due after T_PUSH once the day is past 09:01, and the workers would find nothing.
            connected = space.seqsync("--json", "connect", "Bench", "--where", "statecode=0",
                                      now=T_PULL)
            if connected.exit_code:
                raise SystemExit(f"connect failed: {connected.stderr[-2000:]}")
            expected = _count_connections(url)
            before = mock.stats()
            started = time.perf_counter()
            results = _run_workers(space, workers)
            wall = time.perf_counter() - started
            after = mock.stats()
            routes = api_requests(before, after)
            check = check_exactly_once(crm_client(space.config, mock.info["client_secret"]), url)
    finally:
        _drop_database(server, name)
    return {
        "bench": "workers", "leads": size, "workers": workers, "wall_s": round(wall, 1),
        "cpu_s_total": round(sum(r["cpu_s"] for r in results), 1),
        "peak_rss_mb_per_worker": [r["peak_rss_mb"] for r in results],
        "created_per_worker": [r["activities_created"] for r in results],
        "requests": sum(routes.values()), "requests_by_kind": routes,
        "throttled_429": after.get("throttled", 0) - before.get("throttled", 0),
        "pull_wall_s": round(pulled.wall_s, 1), "pull_peak_rss_mb": round(pulled.peak_rss_mb, 1),
        "connect_wall_s": round(connected.wall_s, 1),
        "connect_peak_rss_mb": round(connected.peak_rss_mb, 1),
        "exit_codes": [r["exit_code"] for r in results],
        "errors": [r["error"] for r in results if r["error"]],
        "exactly_once": check.as_dict(), "connected": expected,
        # Every connected lead got its email: a run that planned nothing is no pass.
        "all_created": expected > 0 and check.in_crm.get("email", 0) == expected,
        "machine": {"cpus": psutil.cpu_count(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="400000,1000000")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server (libpq URL)")
    args = parser.parse_args(argv)
    ok = True
    for size in (int(n) for n in args.sizes.split(",")):
        for workers in (int(n) for n in args.workers.split(",")):
            folder = Path(tempfile.mkdtemp(prefix="seqsync-bench-workers-"))
            try:
                print(f"{size:,} leads, {workers} worker(s) ...", file=sys.stderr, flush=True)
                result = run_once(size, workers, args.pg, folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            good = (result["exactly_once"]["ok"] and result["all_created"]
                    and not any(result["exit_codes"]))
            ok &= good
            print(f"leads {size:>9,}  workers {workers}  wall {result['wall_s']:>7} s  "
                  f"cpu {result['cpu_s_total']:>7} s  requests {result['requests']:>6}  "
                  f"429s {result['throttled_429']:>4}  rss/worker "
                  f"{result['peak_rss_mb_per_worker']} MB  created/worker "
                  f"{result['created_per_worker']}  exactly-once "
                  f"{'ok' if result['exactly_once']['ok'] else 'FAILED'}  all "
                  f"{result['connected']:,} created {'yes' if result['all_created'] else 'NO'}",
                  flush=True)
            print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
