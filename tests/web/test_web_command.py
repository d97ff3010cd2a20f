"""`seqsync web` and `seqsync demo --web` as a user starts them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from console_helpers import free_port
from typer.testing import CliRunner

from connector.cli.main import app


def test_web_refuses_a_config_without_sign_in_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEQSYNC_CONFIG", raising=False)
    (tmp_path / "seqsync.toml").write_text('[web]\nport = 8099\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["web"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "seqsync: error: [web] tenant_id and client_id (or [crm] tenant_id and client_id) "
        "are needed for sign-in")
    bad = CliRunner().invoke(app, ["web", "--port", "0"])
    assert bad.exit_code == 2 and "--port" in bad.stderr


def test_web_refuses_a_port_in_use(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQSYNC_TEST_WEB_SECRET", "s")
    (tmp_path / "seqsync.toml").write_text(
        '[web]\ntenant_id = "t"\nclient_id = "c"\nclient_secret_env = "SEQSYNC_TEST_WEB_SECRET"\n',
        encoding="utf-8")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["web", "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"seqsync: error: [web] cannot listen on 127.0.0.1:{port}")


def test_web_names_a_bad_web_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seqsync.toml").write_text('[web]\npublic_url = "ftp://x"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["web"])
    assert result.exit_code == 2
    assert "[web] public_url" in result.stderr and "http(s)://" in result.stderr


def test_demo_web_serves_the_console_signing_in_through_the_mock(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-u", "-m", "connector", "demo", "--web", "--port", str(port),
         "--keep", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    try:
        lines: list[str] = []
        assert demo.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "seqsync web console on" in line:
                break
        text = "".join(lines)
        assert f"seqsync web console on http://127.0.0.1:{port}" in text, text
        assert "avery.seller@contoso.example: Sequence.Manager" in text
        for _ in range(50):
            try:
                start = requests.get(f"http://127.0.0.1:{port}/", allow_redirects=False,
                                     timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert start.status_code == 303 and start.headers["location"] == "/login?next=%2F"
        login = requests.get(f"http://127.0.0.1:{port}/login", allow_redirects=False, timeout=10)
        assert login.status_code == 303
        assert "/oauth2/v2.0/authorize?" in login.headers["location"]
        assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fauth%2Fcallback" in (
            login.headers["location"])
    finally:
        demo.terminate()
        demo.wait(timeout=30)
