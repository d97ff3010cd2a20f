"""Plumbing shared by the scale benchmark and its small pytest version.

A `MockProcess` is the mock Dataverse in its own interpreter; a `Workspace` is a folder with a
seqsync config, the mock's secret and a sequence file; `run_seqsync` runs one CLI command as a
child process and measures it (wall, CPU and peak RSS from the kernel's rusage of that child).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

TIME = "/usr/bin/time"
REPO = Path(__file__).resolve().parent.parent
SEQUENCE = """name = "Bench"
entity = "lead"
[[steps]]
type = "email"
name = "Hello"
description = "First touch"
[[steps]]
type = "wait"
days = 2
[[steps]]
type = "phonecall"
name = "Call"
"""


class MockProcess:
    """`python -m connector.mockserver` on a free loopback port, stopped on exit."""

    def __init__(self, folder: Path, leads: int, *, rate_limit: str | None = None,
                 concurrency_limit: int | None = None, latency_ms: float = 0) -> None:
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        ready = folder / "ready.json"
        ready.unlink(missing_ok=True)
        args = [sys.executable, "-m", "connector.mockserver", "--port", "0",
                "--ready-file", str(ready), "--ca-file", str(folder / "ca.pem"),
                "--generate", f"leads={leads}"]
        if rate_limit:
            args += ["--rate-limit", rate_limit]
        if concurrency_limit:
            args += ["--concurrency-limit", str(concurrency_limit)]
        if latency_ms:
            args += ["--latency", str(latency_ms)]
        self._log = (folder / "mock.log").open("w")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 600
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mock server did not start; see {folder / 'mock.log'}")
            time.sleep(0.05)
        self.info: dict[str, Any] = json.loads(ready.read_text())
        self.url: str = self.info["url"]

    def stats(self) -> dict[str, Any]:
        resp = requests.get(f"{self.url}/_mock/stats", verify=self.info["ca_file"], timeout=60)
        resp.raise_for_status()
        return resp.json()

    def set_faults(self, **settings: Any) -> None:
        resp = requests.post(f"{self.url}/_mock/faults", json=settings,
                             verify=self.info["ca_file"], timeout=60)
        resp.raise_for_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> MockProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def api_requests(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Web API requests between two `/_mock/stats` snapshots, by route (token calls left out)."""
    old = before["requests"]["by_route"]
    new = after["requests"]["by_route"]
    diff = {route: new[route] - old.get(route, 0) for route in new}
    return {route: n for route, n in sorted(diff.items()) if n and not _is_auth(route)}


def _is_auth(route: str) -> bool:
    lowered = route.lower()
    return any(word in lowered for word in ("/_mock/", "token", "openid", "discovery"))


@dataclass
class Workspace:
    """A seqsync working folder pointed at one mock."""

    folder: Path
    mock: MockProcess
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        info = self.mock.info
        (self.folder / "seqsync.toml").write_text(
            f'[state]\nurl = "sqlite:///{self.folder / "state.db"}"\n'
            f'[crm]\nurl = "{info["url"]}"\ntenant_id = "{info["tenant"]}"\n'
            f'client_id = "{info["client_id"]}"\nclient_secret_env = "BENCH_MOCK_SECRET"\n'
            f'authority_host = "{info["url"]}"\nca_bundle = "{info["ca_file"]}"\n'
            f'token_cache = "{self.folder / "token.json"}"\n'
            '[log]\nlevel = "WARNING"\n',
            encoding="utf-8",
        )
        (self.folder / "sequence.toml").write_text(SEQUENCE, encoding="utf-8")
        self.env = {**os.environ, "BENCH_MOCK_SECRET": info["client_secret"]}
        self.env.pop("REQUESTS_CA_BUNDLE", None)

    @property
    def config(self) -> Path:
        return self.folder / "seqsync.toml"

    @property
    def state_db(self) -> Path:
        return self.folder / "state.db"

    def seqsync(self, *args: str, now: str | None = None, profile: Path | None = None) -> Run:
        head = ["--config", str(self.config)] + (["--now", now] if now else [])
        return run_seqsync(head + list(args), self.env, self.folder, profile=profile)


@dataclass
class Run:
    """One measured CLI run."""

    args: list[str]
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    def summary(self) -> dict[str, Any]:
        """The `--json` summary line of `seqsync sync` (its last stdout line)."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"seqsync {' '.join(self.args)} printed no summary: "
                               f"{self.stderr.strip()[-2000:]}")
        return json.loads(lines[-1])


def run_seqsync(args: list[str], env: dict[str, str], cwd: Path,
                profile: Path | None = None) -> Run:
    if profile is not None:
        command = [sys.executable, "-m", "pyinstrument", "-o", str(profile), "-m", "connector"]
    else:
        command = [sys.executable, "-m", "connector"]
    # Linux starts a child's peak-RSS counter at its parent's size, so a big benchmark process
    # would inflate it; GNU time is a small parent and reports its own child's figures.
    timing = cwd / "last.time"
    if Path(TIME).exists():
        command = [TIME, "-o", str(timing), "-f", "%U %S %M", *command]
    out_path, err_path = cwd / "last.out", cwd / "last.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command + args, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu, peak_kb = usage.ru_utime + usage.ru_stime, float(usage.ru_maxrss)
    if command[0] == TIME:
        user, system, peak = timing.read_text().split()[-3:]
        cpu, peak_kb = float(user) + float(system), float(peak)
    return Run(
        args=args, exit_code=proc.returncode, wall_s=wall, cpu_s=cpu, peak_rss_mb=peak_kb / 1024,
        stdout=out_path.read_text(), stderr=err_path.read_text(),
    )
