"""Tenant-scale benchmark: full `seqsync sync` runs against the mock Dataverse in its own process.

    python bench/bench_scale.py --size 100000          (make bench SIZE=100000)

For a generated tenant of N leads it measures, each as a child process (wall, CPU, peak RSS):
  1. the first sync: (a) a pull-only sync, then `connect Bench --where statecode=0`, then
     (c) the sync that plans and pushes one email per connected lead;
  2. a sync with no CRM change;
  3. a sync after 1% of the leads changed, 0.1% were deleted and 10% of the open activities
     were completed in the CRM (their next step, a phone call, is then due and pushed).
Web API requests come from the mock's `/_mock/stats`. Two baselines run on a second mock with the
same tenant: one POST per activity (sampled, extrapolated) and Microsoft's SDK CreateMultiple.
The whole thing runs again with service protection (6,000 / 300 s scaled to the same rate over a
30 s window, 52 concurrent) and 20 ms latency. A human table, then one JSON line; exit 1 when a
run failed or an activity was lost or duplicated.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from scale_baselines import one_post_per_row, sdk_create_multiple
from scale_harness import MockProcess, Run, Workspace, api_requests
from scale_tenant import change_tenant, check_exactly_once, crm_client

QUOTA_REQUESTS, QUOTA_MINUTES = 6000, 5.0
T_PULL, T_PUSH, T_NOOP = "2026-11-30T09:00:00Z", "2026-11-30T09:01:00Z", "2026-11-30T09:02:00Z"
T_COMPLETED, T_CHANGE = "2026-12-01T10:00:00Z", "2026-12-03T12:00:00Z"
THROTTLED = {"rate_limit": "600/30", "concurrency_limit": 52, "latency_ms": 20}


def quota_minutes(requests: int) -> float:
    return round(requests / QUOTA_REQUESTS * QUOTA_MINUTES, 2)


def measured(name: str, run: Run, mock: MockProcess, before: dict[str, Any],
             activities: int | None = None) -> dict[str, Any]:
    after = mock.stats()
    routes = api_requests(before, after)
    total = sum(routes.values())
    summary = run.summary() if run.args and run.args[-1] == "sync" else {}
    if activities is None:
        activities = sum(summary.get("activities_created", {}).values())
    return {
        "name": name, "exit_code": run.exit_code, "wall_s": round(run.wall_s, 2),
        "cpu_s": round(run.cpu_s, 2), "peak_rss_mb": round(run.peak_rss_mb, 1),
        "requests": total, "requests_by_kind": routes,
        "rows_pulled": sum(summary.get("rows_pulled", {}).values()),
        "rows_deleted": sum(summary.get("rows_deleted", {}).values()),
        "activities_created": activities,
        "activities_completed": summary.get("activities_completed", 0),
        "throttled": summary.get("throttled", 0), "retries": summary.get("retries", 0),
        "requests_per_1000_activities": round(total * 1000 / activities, 2) if activities else None,
        "quota_minutes": quota_minutes(total), "sync_errors": summary.get("errors", 0),
    }


def combined(name: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    routes: dict[str, int] = {}
    for part in parts:
        for route, n in part["requests_by_kind"].items():
            routes[route] = routes.get(route, 0) + n
    total = sum(routes.values())
    activities = sum(p["activities_created"] for p in parts)
    return {
        "name": name, "exit_code": max(p["exit_code"] for p in parts),
        "wall_s": round(sum(p["wall_s"] for p in parts), 2),
        "cpu_s": round(sum(p["cpu_s"] for p in parts), 2),
        "peak_rss_mb": max(p["peak_rss_mb"] for p in parts), "requests": total,
        "requests_by_kind": routes, "rows_pulled": sum(p["rows_pulled"] for p in parts),
        "rows_deleted": sum(p["rows_deleted"] for p in parts), "activities_created": activities,
        "activities_completed": sum(p["activities_completed"] for p in parts),
        "throttled": sum(p["throttled"] for p in parts),
        "retries": sum(p["retries"] for p in parts),
        "requests_per_1000_activities": round(total * 1000 / activities, 2) if activities else None,
        "quota_minutes": quota_minutes(total),
        "sync_errors": sum(p["sync_errors"] for p in parts),
    }


def run_variant(root: Path, size: int, sample: int, *, faults: dict[str, Any] | None,
                sdk: bool, profile: bool) -> dict[str, Any]:
    faults = faults or {}
    label = "throttled" if faults else "plain"
    log = print if sys.stdout.isatty() else (lambda *a: print(*a, file=sys.stderr))
    log(f"[{label}] generating {size} leads in the mock ...")
    with MockProcess(root / "mock", size, **faults) as mock:
        ws = Workspace(root / "ws", mock)
        prof = (lambda name: root / f"{name}.pyinstrument.txt") if profile else (lambda _: None)
        runs: dict[str, dict[str, Any]] = {}
        checks: dict[str, Any] = {}

        def sync(name: str, now: str) -> dict[str, Any]:
            log(f"[{label}] {name} ...")
            before = mock.stats()
            result = measured(name, ws.seqsync("sync", now=now, profile=prof(name)), mock, before)
            runs[name] = result
            return result

        pull = sync("1a_pull", T_PULL)
        ws.seqsync("sequence", "apply", str(ws.folder / "sequence.toml"), "--activate")
        before = mock.stats()
        connect = measured("1b_connect", ws.seqsync("--json", "connect", "Bench", "--where",
                                                    "statecode=0", now=T_PULL), mock, before, 0)
        runs["1b_connect"] = connect
        push = sync("1c_plan_push", T_PUSH)
        runs["1_first_sync"] = combined("1_first_sync (1a + 1c)", [pull, push])
        client = crm_client(ws.config, mock.info["client_secret"])
        checks["after_first"] = check_exactly_once(client, ws.state_db).as_dict()
        sync("2_no_change", T_NOOP)
        log(f"[{label}] changing the tenant ...")
        changes = change_tenant(client, ws.state_db, T_COMPLETED)
        sync("3_after_changes", T_CHANGE)
        checks["after_changes"] = check_exactly_once(client, ws.state_db).as_dict()
        client.close()
        created = push["activities_created"]
    baselines: dict[str, Any] = {}
    if created:
        log(f"[{label}] baselines on a second mock ...")
        with MockProcess(root / "mock_baseline", size, **faults) as other:
            base_ws = Workspace(root / "ws_baseline", other)
            # Under the rate limit the per-row baseline crawls: a smaller sample says as much.
            rows = min(sample, created, 600 if faults else sample)
            baselines["one_post_per_row"] = one_post_per_row(
                other, base_ws.config, ws.state_db, rows, created)
            if sdk:
                baselines["sdk_create_multiple"] = sdk_create_multiple(
                    other, base_ws.config, ws.state_db, created)
    first = runs["1_first_sync"]
    ratios = {key: {
        "requests": _ratio(first["requests"], base["requests"]),
        "wall": _ratio(first["wall_s"], base["wall_s"]),
        "push_sync_wall": _ratio(push["wall_s"], base["wall_s"]),
    } for key, base in baselines.items()}
    return {"variant": label, "faults": faults, "size": size, "runs": runs, "checks": checks,
            "changes": changes.counts(), "baselines": baselines, "ratios": ratios}


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 4) if theirs else None


def print_table(result: dict[str, Any]) -> None:
    print(f"\n== {result['variant']} (N = {result['size']:,} leads) faults={result['faults']}")
    head = (f"{'run':<26}{'wall s':>8}{'cpu s':>8}{'RSS MB':>8}{'requests':>9}{'rows':>8}"
            f"{'acts':>8}{'req/1k':>8}{'quota min':>10}{'429s':>6}")
    print(head)
    print("-" * len(head))
    for run in result["runs"].values():
        per_k = run["requests_per_1000_activities"]
        print(f"{run['name'][:25]:<26}{run['wall_s']:>8.1f}{run['cpu_s']:>8.1f}"
              f"{run['peak_rss_mb']:>8.0f}{run['requests']:>9}"
              f"{run['rows_pulled'] + run['rows_deleted']:>8}{run['activities_created']:>8}"
              f"{'-' if per_k is None else f'{per_k:.1f}':>8}{run['quota_minutes']:>10.2f}"
              f"{run['throttled']:>6}")
    for name, run in result["runs"].items():
        kinds = ", ".join(f"{k} {v}" for k, v in run["requests_by_kind"].items())
        print(f"  {name}: {kinds or 'no requests'}")
    for key, base in result["baselines"].items():
        print(f"baseline {key}: {base['label']}: {base['requests']} requests, "
              f"{base['wall_s']} s, ratio seqsync/baseline {result['ratios'][key]}")
    for when, check in result["checks"].items():
        print(f"exactly-once {when}: {'OK' if check['ok'] else 'FAILED'} {check}")


def failures(result: dict[str, Any]) -> list[str]:
    bad = [f"{result['variant']}: {name} exited {run['exit_code']}"
           for name, run in result["runs"].items() if run["exit_code"] != 0]
    bad += [f"{result['variant']}: exactly-once check {when} failed: {check}"
            for when, check in result["checks"].items() if not check["ok"]]
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="leads in the tenant")
    parser.add_argument("--sample", type=int, default=2000,
                        help="rows the one-POST-per-row baseline measures (then extrapolates)")
    parser.add_argument("--no-throttled", action="store_true",
                        help="skip the service-protection + latency variant")
    parser.add_argument("--no-sdk", action="store_true", help="skip the Microsoft SDK baseline")
    parser.add_argument("--profile", action="store_true",
                        help="run each sync under pyinstrument (slower; text profiles kept)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.keep is not None:
        shutil.rmtree(args.keep, ignore_errors=True)  # a state from an older mock misleads
    root = (args.keep or Path(tempfile.mkdtemp(prefix="seqsync-bench-"))).resolve()
    started = time.time()
    results = []
    try:
        results.append(run_variant(root / "plain", args.size, args.sample, faults=None,
                                   sdk=not args.no_sdk, profile=args.profile))
        if not args.no_throttled:
            results.append(run_variant(root / "throttled", args.size, args.sample,
                                       faults=THROTTLED, sdk=False, profile=False))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    for result in results:
        print_table(result)
    problems = [p for r in results for p in failures(r)]
    for problem in problems:
        print(f"FAILED: {problem}")
    machine = {"cpus": psutil.cpu_count(), "memory_gib": round(
        psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
        "platform": platform.platform()}
    print(json.dumps({"bench": "scale", "size": args.size, "machine": machine,
                      "elapsed_s": round(time.time() - started, 1), "ok": not problems,
                      "results": results}))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
