"""Airbyte's Dataverse source (airbyte-source-microsoft-dataverse 1.0.2) against the mock:
check, discover, full refresh and incremental reads with deletes.

The source pins pydantic 1, so it runs from its own virtual environment, `.cache/airbyte-venv`,
built by `make airbyte` (and by `make test`). Its Entra token host is fixed in its code; the
launcher (`airbyte/launch.py`) redirects that one setting to the mock's token endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector.mockserver import MockDataverse

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / "airbyte-venv"
PYTHON = VENV / "bin" / "python"
LAUNCH = Path(__file__).with_name("airbyte") / "launch.py"

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def airbyte() -> Path:
    """The Airbyte virtual environment, built once per machine by the project's Makefile."""
    if not (VENV / ".installed").exists():
        done = subprocess.run(["make", "airbyte"], cwd=ROOT, capture_output=True, text=True,
                              timeout=900, check=False)
        assert done.returncode == 0, f"make airbyte failed:\n{done.stdout}\n{done.stderr}"
    return PYTHON


def run_source(crm: MockDataverse, tmp: Path, command: str, *, secret: str | None = None,
               catalog: dict[str, Any] | None = None,
               state: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    config = {"url": crm.url, "tenant_id": crm.tenant, "client_id": crm.client_id,
              "client_secret_value": secret or crm.client_secret, "odata_maxpagesize": 3}
    args = [str(PYTHON), str(LAUNCH), command, "--config", str(tmp / "config.json")]
    (tmp / "config.json").write_text(json.dumps(config))
    if catalog is not None:
        (tmp / "catalog.json").write_text(json.dumps(catalog))
        args += ["--catalog", str(tmp / "catalog.json")]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp / "state.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(REQUESTS_CA_BUNDLE=crm.ca_file,
               MOCK_TOKEN_ENDPOINT=f"{crm.authority}/oauth2/v2.0/token")
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180,
                          check=False)
    messages = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            messages.append(json.loads(line))
    assert messages, f"no Airbyte messages (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return messages


def _of(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    key = {"CONNECTION_STATUS": "connectionStatus"}.get(kind, kind.lower())
    return [m[key] for m in messages if m.get("type") == kind]


def _catalog(streams: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    chosen = []
    for stream in streams:
        mode = names.get(stream["name"])
        if mode is None:
            continue
        chosen.append({
            "stream": stream, "sync_mode": mode, "destination_sync_mode": "append",
            **({"cursor_field": ["modifiedon"]} if mode == "incremental" else {}),
            "primary_key": stream["source_defined_primary_key"],
        })
    return {"streams": chosen}


def test_check_and_discover(airbyte: Path, crm: MockDataverse, tmp_path: Path) -> None:
    (status,) = _of(run_source(crm, tmp_path, "check"), "CONNECTION_STATUS")
    assert status["status"] == "SUCCEEDED"
    (bad,) = _of(run_source(crm, tmp_path, "check", secret="wrong"), "CONNECTION_STATUS")
    assert bad["status"] == "FAILED"
    (catalog,) = _of(run_source(crm, tmp_path, "discover"), "CATALOG")
    streams = {s["name"]: s for s in catalog["streams"]}
    lead = streams["lead"]
    assert lead["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert lead["default_cursor_field"] == ["modifiedon"]
    assert lead["source_defined_primary_key"] == [["leadid"]]
    props = lead["json_schema"]["properties"]
    assert "_parentcontactid_value" in props and "_ab_cdc_deleted_at" in props
    assert streams["activitypointer"]["supported_sync_modes"] == ["full_refresh"]


def test_full_refresh_and_incremental_reads(airbyte: Path, crm: MockDataverse,
                                            tmp_path: Path) -> None:
    ids = [crm.insert("leads", {"firstname": f"L{i}", "lastname": "Air"}) for i in range(7)]
    for i in range(2):
        crm.insert("contacts", {"firstname": f"C{i}", "lastname": "Air"})
    (catalog,) = _of(run_source(crm, tmp_path, "discover"), "CATALOG")
    full = _catalog(catalog["streams"], {"lead": "full_refresh", "contact": "full_refresh"})
    records = _of(run_source(crm, tmp_path, "read", catalog=full), "RECORD")
    by_stream: dict[str, list[str]] = {}
    for r in records:
        by_stream.setdefault(r["stream"], []).append(r["data"]["fullname"])
    assert sorted(by_stream["lead"]) == sorted(f"L{i} Air" for i in range(7))
    assert len(by_stream["contact"]) == 2

    incremental = _catalog(catalog["streams"], {"lead": "incremental"})
    first = run_source(crm, tmp_path, "read", catalog=incremental)
    assert len(_of(first, "RECORD")) == 7
    states = _of(first, "STATE")
    assert states, "an incremental read ends with a state message"
    token = json.dumps(states[-1])
    assert "$deltatoken" in token

    crm.update("leads", ids[0], {"lastname": "Changed"})
    crm.delete("leads", ids[1])
    second = _of(run_source(crm, tmp_path, "read", catalog=incremental, state=[states[-1]]),
                 "RECORD")
    changed = [r["data"] for r in second if not r["data"].get("_ab_cdc_deleted_at")]
    deleted = [r["data"] for r in second if r["data"].get("_ab_cdc_deleted_at")]
    assert [d["fullname"] for d in changed] == ["L0 Changed"]
    assert [d["leadid"] for d in deleted] == [ids[1]]


def test_the_launcher_changes_only_the_token_host() -> None:
    text = LAUNCH.read_text()
    assert text.count("auth._token_refresh_endpoint =") == 1
    assert sys.executable  # the launcher runs under the Airbyte venv, not this interpreter
