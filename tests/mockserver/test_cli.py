"""The mock-server command: subprocess with a ready file, options, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
import typer
from typer.testing import CliRunner

from connector.mockserver.cli import parse_generate, register


def _wait_for(path: Path, proc: subprocess.Popen) -> dict:
    for _ in range(300):
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "exited")
        time.sleep(0.05)
    raise AssertionError("mock server did not become ready")


def test_python_dash_m_runs_until_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    ca = tmp_path / "ca" / "mock-ca.pem"
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"leads": [{"fullname": "Seeded Lead", "new_region": "EU"}]}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.mockserver", "--port", "0", "--ready-file", str(ready),
         "--ca-file", str(ca), "--seed", str(seed), "--generate", "leads=5,opportunities=2",
         "--client-id", "my-app", "--client-secret", "s3cret", "--tenant", "my-tenant",
         "--rate-limit", "100/60", "--concurrency-limit", "10", "--latency", "0",
         "--fault-rate", "0", "--fault-seed", "3", "--delta-token-ttl", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        info = _wait_for(ready, proc)
        assert set(info) == {"url", "api_url", "authority", "tenant", "client_id",
                             "client_secret", "ca_file", "pid"}
        assert info["authority"] == info["url"] + "/my-tenant" and info["pid"] == proc.pid
        assert info["ca_file"] == str(ca) and ca.read_bytes().startswith(b"-----BEGIN")
        token = requests.post(f"{info['authority']}/oauth2/v2.0/token", verify=str(ca),
                              timeout=10, data={
                                  "grant_type": "client_credentials", "client_id": "my-app",
                                  "client_secret": "s3cret",
                                  "scope": f"{info['url']}/.default"}).json()["access_token"]
        rows = requests.get(f"{info['api_url']}/leads?$select=fullname,new_region",
                            verify=str(ca), timeout=10,
                            headers={"Authorization": f"Bearer {token}"}).json()["value"]
        assert len(rows) == 6
        assert {"fullname": "Seeded Lead", "new_region": "EU"}.items() <= next(
            r for r in rows if r["new_region"]).items()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "[crm]" in out and 'tenant_id = "my-tenant"' in out and info["url"] in out
    assert "Mock Dataverse stopped." in out
    assert "s3cret" not in out


def test_bad_options_give_one_line_errors(tmp_path: Path) -> None:
    env = {**os.environ}
    for args, fragment in [
        (["--generate", "leads=lots"], "--generate"),
        (["--rate-limit", "fast"], "REQUESTS/SECONDS"),
        (["--seed", str(tmp_path / "missing.json")], "missing.json"),
        (["--fault-rate", "2"], "--fault-rate"),
    ]:
        proc = subprocess.run([sys.executable, "-m", "connector.mockserver", "--port", "0", *args],
                              capture_output=True, text=True, timeout=30, env=env)
        assert proc.returncode == 2, proc
        assert proc.stderr.strip().count("\n") == 0 and fragment in proc.stderr
        assert "Traceback" not in proc.stderr


def test_register_adds_mock_server_to_a_typer_app() -> None:
    app = typer.Typer()

    @app.command()
    def other() -> None:
        """Another command, so mock-server is a subcommand."""

    register(app)
    result = CliRunner().invoke(app, ["mock-server", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--seed", "--generate", "--ca-file", "--client-id",
                   "--client-secret", "--tenant", "--rate-limit", "--concurrency-limit",
                   "--latency", "--fault-rate", "--fault-seed", "--delta-token-ttl",
                   "--ready-file"):
        assert option in result.output


def test_parse_generate() -> None:
    assert parse_generate("leads=3, opportunities=2") == {"leads": 3, "opportunities": 2}
    assert parse_generate(None) is None
