"""Throughput of the mock Dataverse itself, so other benchmarks can subtract its share.

Starts `python -m connector.mockserver --port 0 --ready-file ...` in a subprocess, then measures
simple GETs per second (a few threads, keep-alive sessions) and CreateMultiple rows per second.
Prints a table and, last, one JSON line. Usage: python bench/bench_mock.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests


def start_mock(folder: Path, generate: str) -> tuple[subprocess.Popen, dict]:
    ready = folder / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.mockserver", "--port", "0", "--ready-file",
         str(ready), "--ca-file", str(folder / "ca.pem"), "--generate", generate],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            detail = proc.stderr.read() if proc.stderr else ""
            raise SystemExit(f"mock server did not start: {detail}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def session_for(info: dict) -> requests.Session:
    token = requests.post(
        f"{info['authority']}/oauth2/v2.0/token", verify=info["ca_file"], timeout=30,
        data={"grant_type": "client_credentials", "client_id": info["client_id"],
              "client_secret": info["client_secret"], "scope": f"{info['url']}/.default"},
    ).json()["access_token"]
    session = requests.Session()
    session.verify = info["ca_file"]
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override session.verify
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json",
                            "OData-Version": "4.0", "OData-MaxVersion": "4.0"})
    return session


def bench_gets(info: dict, threads: int, seconds: float) -> float:
    counts = [0] * threads
    stop = time.monotonic() + seconds
    url = f"{info['api_url']}/leads?$select=fullname&$top=1"

    def worker(n: int) -> None:
        session = session_for(info)
        while time.monotonic() < stop:
            resp = session.get(url, timeout=30)
            resp.raise_for_status()
            counts[n] += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    started = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def bench_create_multiple(info: dict, batches: int, size: int) -> float:
    session = session_for(info)
    started = time.monotonic()
    for b in range(batches):
        targets = [{"@odata.type": "Microsoft.Dynamics.CRM.task", "subject": f"bench {b}-{i}"}
                   for i in range(size)]
        resp = session.post(f"{info['api_url']}/tasks/Microsoft.Dynamics.CRM.CreateMultiple",
                            json={"Targets": targets}, timeout=120)
        resp.raise_for_status()
    return batches * size / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the GET test")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batches", type=int, default=20, help="CreateMultiple requests")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--leads", type=int, default=10000, help="leads generated at start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mock-") as tmp:
        started = time.monotonic()
        proc, info = start_mock(Path(tmp), f"leads={args.leads}")
        startup = time.monotonic() - started
        try:
            gets = bench_gets(info, args.threads, args.seconds)
            rows = bench_create_multiple(info, args.batches, args.batch_size)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"{'measure':<34}{'value':>14}")
    print(f"{'startup with ' + str(args.leads) + ' leads (s)':<34}{startup:>14.2f}")
    print(f"{'simple GETs/s (' + str(args.threads) + ' threads)':<34}{gets:>14.1f}")
    print(f"{'CreateMultiple rows/s (' + str(args.batch_size) + '/req)':<34}{rows:>14.1f}")
    print(json.dumps({"bench": "mock", "startup_s": round(startup, 3),
                      "gets_per_s": round(gets, 1), "create_multiple_rows_per_s": round(rows, 1),
                      "threads": args.threads, "batch_size": args.batch_size}))


if __name__ == "__main__":
    main()
