"""--generate data, seed files, the Python API, and the pytest fixtures users get."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm


def test_generate_is_deterministic_and_realistic() -> None:
    a = MockDataverse(generate={"leads": 200, "opportunities": 50, "tasks": 20})
    b = MockDataverse(generate={"leads": 200, "opportunities": 50, "tasks": 20})
    rows_a = sorted(a.rows("leads"), key=lambda r: r["leadid"])
    rows_b = sorted(b.rows("leads"), key=lambda r: r["leadid"])
    assert [r["leadid"] for r in rows_a] == [r["leadid"] for r in rows_b]
    assert [r["emailaddress1"] for r in rows_a] == [r["emailaddress1"] for r in rows_b]
    assert all("@" in r["emailaddress1"] and " " in r["fullname"] for r in rows_a)
    assert any(r["statecode"] != 0 for r in rows_a)
    assert any(r["statecode"] != 0 for r in a.rows("opportunities"))
    users = {u["systemuserid"] for u in a.rows("systemusers")}
    assert all(r["_ownerid_value"] in users for r in rows_a)
    opp = a.rows("opportunities")[0]
    assert a.get("accounts", opp["_customerid_value"]) is not None
    assert a.get("contacts", opp["_parentcontactid_value"]) is not None
    assert all(a.get("leads", t["_regardingobjectid_value"]) for t in a.rows("tasks"))


def test_generate_rejects_unknown_tables() -> None:
    with pytest.raises(ValueError, match="unknown table 'widgets'"):
        MockDataverse(generate={"widgets": 3})


def test_seed_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "seed.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match=r"seed\.json"):
        MockDataverse(seed=bad)
    bad.write_text(json.dumps({"leads": [{"fullname": "x", "leadid": "not-a-guid"}]}))
    with pytest.raises(ValueError, match="not a valid GUID"):
        MockDataverse(seed=str(bad))


def test_context_manager_exposes_connection_details(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with MockDataverse(ca_file=ca, tenant="t1", client_id="c1", client_secret="s1") as crm:
        assert crm.url == f"https://127.0.0.1:{crm.port}" and crm.port > 0
        assert crm.api_url == crm.url + "/api/data/v9.2"
        assert crm.authority == crm.url + "/t1"
        assert (crm.tenant, crm.client_id, crm.client_secret) == ("t1", "c1", "s1")
        assert crm.ca_file == str(ca) and ca.exists()
    default = MockDataverse()
    assert len(default.tenant) == 36 and len(default.client_id) == 36
    assert default.client_secret != MockDataverse().client_secret


def test_insert_update_delete_and_reset_through_python(crm: MockDataverse, api: Api) -> None:
    lead = crm.insert("leads", {"fullname": "Direct", "new_tier": "gold"})
    assert api.get(f"leads({lead})?$select=new_tier").json()["new_tier"] == "gold"
    crm.update("leads", lead, {"fullname": "Edited"})
    assert api.get(f"leads({lead})").json()["fullname"] == "Edited"
    with pytest.raises(KeyError):
        crm.update("leads", "00000000-0000-0000-0000-000000000000", {"fullname": "x"})
    crm.reset()
    assert crm.rows("leads") == [] and crm.stats()["requests"]["total"] == 0


def test_mock_dataverse_fixture_is_fresh_per_test(mock_dataverse: MockDataverse) -> None:
    assert mock_dataverse.rows("leads") == []
    mock_dataverse.insert("leads", {"fullname": "only in this test"})


def test_mock_dataverse_fixture_is_fresh_again(mock_dataverse: MockDataverse) -> None:
    assert mock_dataverse.rows("leads") == []


def test_factory_starts_servers_with_options(mock_dataverse_factory: MakeCrm) -> None:
    one = mock_dataverse_factory(generate={"leads": 3})
    two = mock_dataverse_factory()
    assert one.port != two.port
    assert len(one.rows("leads")) == 3 and two.rows("leads") == []


def test_fixture_is_usable_from_a_users_test_suite(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        "import requests\n\n"
        "def test_user(mock_dataverse, monkeypatch):\n"
        "    monkeypatch.setenv('REQUESTS_CA_BUNDLE', mock_dataverse.ca_file)\n"
        "    url = mock_dataverse.authority + '/v2.0/.well-known/openid-configuration'\n"
        "    r = requests.get(url)\n"
        "    assert r.status_code == 200\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_https_only(crm: MockDataverse) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{crm.port}/_mock/stats", timeout=10)
    assert requests.get(f"{crm.url}/_mock/stats", timeout=10).status_code == 200


def test_localhost_name_is_in_the_certificate(crm: MockDataverse) -> None:
    resp = requests.get(f"https://localhost:{crm.port}/_mock/stats", timeout=10)
    assert resp.status_code == 200


def test_generate_teams_templates_and_appointments() -> None:
    plain = MockDataverse(generate={"leads": 30})
    crm = MockDataverse(generate={"leads": 30, "teams": 2, "templates": 3, "appointments": 5})
    assert {r["leadid"] for r in crm.rows("leads")} == {r["leadid"] for r in plain.rows("leads")}
    teams = {t["teamid"] for t in crm.rows("teams")}
    owned = [r for r in crm.rows("leads") if r["_ownerid_value"] in teams]
    assert len(teams) == 2 and len(owned) == 3
    assert all(crm.dv.store.tables["leads"].rows[r["leadid"]][
        "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team" for r in owned)
    assert {t["templatetypecode"] for t in crm.rows("templates")} == {"lead"}
    leads = {r["leadid"] for r in crm.rows("leads")}
    assert all(a["_regardingobjectid_value"] in leads for a in crm.rows("appointments"))
