"""Issue 10: what a new user tripped on, reproduced the way they met it (defects 1, 4, 5, 11)."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import certifi
import pytest
from typer.testing import CliRunner

from connector.cli.main import app

REPO = Path(__file__).resolve().parents[2]


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def test_the_readme_python_mock_example_runs_with_requests_ca_bundle_set(tmp_path) -> None:
    block = next(b for b in _python_blocks((REPO / "README.md").read_text())
                 if "MockDataverse(generate=" in b)
    script = tmp_path / "example.py"
    script.write_text(block)
    env = {**os.environ, "REQUESTS_CA_BUNDLE": certifi.where()}  # knows nothing of the mock
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "GET leads" in done.stdout


def test_mock_server_prints_an_absolute_ca_path_and_removes_its_ready_file(tmp_path) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "mock-server", "--port", "0", "--ca-file", "ca.pem",
         "--ready-file", str(ready)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f'ca_bundle = "{tmp_path / "ca.pem"}"' in out
    assert not ready.exists(), "the ready file holds the secret of a stopped server"


def test_demo_keep_leaves_a_config_whose_ca_file_exists_and_its_apply_line_works(
        tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEQSYNC_CONFIG", raising=False)
    keep = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--keep", str(keep)])
    assert result.exit_code == 0, result.output
    config = (keep / "seqsync.toml").read_text()
    ca = re.search(r'ca_bundle = "(.*)"', config)
    assert ca and Path(ca.group(1)).is_file() and Path(ca.group(1)).parent == keep.resolve()
    assert "Re-engagement" in result.stdout
    line = re.search(r"seqsync (sequence apply \S+ --activate)", result.stdout)
    assert line, result.stdout
    # What the demo tells the user to type, run against a fresh state (the shell expands *).
    words = shlex.split(line.group(1))
    files = sorted(glob.glob(words[2]))
    assert {Path(f).name for f in files} >= {"re-engagement.toml", "cold-lead-outreach.toml"}
    fresh = tmp_path / "fresh.toml"
    fresh.write_text(f'[state]\nurl = "sqlite:///{tmp_path / "fresh.db"}"\n')
    applied = CliRunner().invoke(app, ["--config", str(fresh), "--json", *words[:2], *files,
                                       "--activate"])
    assert applied.exit_code == 0, applied.output
    assert {s["status"] for s in json.loads(applied.stdout)} == {"active"}


@pytest.mark.slow
def test_an_installed_copy_runs_demo_and_walkthrough_from_any_folder(tmp_path) -> None:
    """`pip install .` (not editable): the examples ship as data beside the mappings."""
    wheels = tmp_path / "wheels"
    # From a copy without the checkout's `build/`: setuptools adds what it finds there to the
    # wheel, a file since renamed or removed included (a stale migration made two heads).
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        "build", ".venv", ".cache", ".git", "*.egg-info", "__pycache__", ".pytest_cache",
        ".ruff_cache", ".hypothesis"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=600,
        check=False)
    assert build.returncode == 0, build.stderr
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig;print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    # The dependencies come from the test environment; seqsync itself only from the wheel.
    deps = subprocess.run([sys.executable, "-c", "import sysconfig;print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    Path(site.strip(), "deps.pth").write_text(deps.strip() + "\n")
    wheel = next(wheels.glob("seqsync-*.whl"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)], capture_output=True, text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQSYNC_")}
    env["PYTHONSAFEPATH"] = "1"
    seqsync = venv / "bin" / "seqsync"
    where = subprocess.run([str(python), "-c", "import connector;print(connector.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert str(venv) in where.stdout, "the test must use the installed copy, not the checkout"
    walk = subprocess.run([str(seqsync), "walkthrough"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert walk.returncode == 0, walk.stderr
    assert "Cold lead outreach" in walk.stdout
    demo = subprocess.run([str(seqsync), "demo"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert demo.returncode == 0, demo.stderr
    assert "(exactly once)" in demo.stdout
