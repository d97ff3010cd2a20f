"""Service protection (429), fault injection, and the /_mock admin surface."""

from __future__ import annotations

import threading

import pytest
import requests

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm, error_of


def test_request_rate_limit_answers_429_with_retry_after(make_crm: MakeCrm) -> None:
    crm = make_crm(rate_limit=(3, 300))
    api = Api(crm)
    assert [api.get("leads").status_code for _ in range(3)] == [200, 200, 200]
    resp = api.get("leads")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    err = error_of(resp)
    assert err["code"] == "0x80072322"
    assert err["message"] == (
        "Number of requests exceeded the limit of 3 over time window of 300 seconds.")
    assert crm.stats()["throttled"] == 1
    crm.set_faults(rate_limit=None)
    assert api.get("leads").status_code == 200


def test_concurrency_limit_answers_429(make_crm: MakeCrm) -> None:
    crm = make_crm(concurrency_limit=1, latency_ms=300)
    api = Api(crm)
    results: list[int] = []
    barrier = threading.Barrier(4)

    def call() -> None:
        session = requests.Session()
        session.headers.update(api.session.headers)
        barrier.wait()
        results.append(session.get(f"{crm.api_url}/WhoAmI", timeout=30).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) >= 1 and results.count(429) >= 1
    assert crm.stats()["requests"]["by_status"]["429"] == results.count(429)


def test_concurrency_429_body(make_crm: MakeCrm) -> None:
    crm = make_crm(concurrency_limit=0)
    resp = Api(crm).get("leads")
    assert resp.status_code == 429
    assert error_of(resp)["code"] == "0x80072326"
    assert resp.headers["Retry-After"] == "1"


def _fault_sequence(crm: MockDataverse, n: int) -> list[str]:
    api = Api(crm)
    out = []
    for _ in range(n):
        try:
            out.append(str(api.get("WhoAmI").status_code))
        except requests.ConnectionError:
            out.append("drop")
            api = Api(crm)
    return out


def test_faults_are_deterministic_for_a_seed(make_crm: MakeCrm) -> None:
    first = _fault_sequence(make_crm(fault_rate=0.5, fault_seed=7), 30)
    second = _fault_sequence(make_crm(fault_rate=0.5, fault_seed=7), 30)
    assert first == second
    assert {"200", "500", "502", "503", "drop"} <= set(first) | {"drop"}
    assert len(set(first)) >= 3


def test_fault_5xx_bodies_are_dataverse_errors(make_crm: MakeCrm) -> None:
    crm = make_crm(fault_rate=1.0, fault_seed=1)
    seen: set[int] = set()
    api = Api(crm)
    for _ in range(20):
        try:
            resp = api.get("leads")
        except requests.ConnectionError:
            api = Api(crm)
            continue
        seen.add(resp.status_code)
        assert set(resp.json()) == {"error"}
    assert seen <= {500, 502, 503} and seen
    faults = crm.stats()["faults"]
    assert sum(faults.values()) == 20


def test_admin_stats_reset_seed_and_faults(crm: MockDataverse, api: Api) -> None:
    api.create("leads", {"fullname": "Ann"})
    api.post("tasks/CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.task", "subject": "s"}]})
    lead = crm.rows("leads")[0]["leadid"]
    api.patch(f"leads({lead})", json={"subject": "x"})
    stats = requests.get(f"{crm.url}/_mock/stats", timeout=10).json()
    routes = stats["requests"]["by_route"]
    assert routes["POST leads"] == 1 and routes["POST tasks/CreateMultiple"] == 1
    assert routes["PATCH leads(id)"] == 1 and routes["POST token"] == 1
    assert stats["requests"]["api"] == 3
    assert stats["requests"]["by_method"]["POST"] >= 3
    assert stats["rows"]["leads"] == 1 and stats["rows"]["tasks"] == 1
    assert requests.post(f"{crm.url}/_mock/reset", timeout=10).status_code == 200
    assert crm.rows("leads") == [] and crm.rows("systemusers")
    seeded = requests.post(f"{crm.url}/_mock/seed", timeout=10,
                           json={"leads": [{"fullname": "From seed", "new_score": 5}]})
    assert seeded.json() == {"loaded": {"leads": 1}}
    assert crm.rows("leads")[0]["new_score"] == 5
    changed = requests.post(f"{crm.url}/_mock/faults", timeout=10,
                            json={"rate_limit": "2/60", "latency_ms": 0})
    assert changed.json()["rate_limit"] == [2, 60.0]
    bad = requests.post(f"{crm.url}/_mock/faults", timeout=10, json={"nope": 1})
    assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]
    bad_seed = requests.post(f"{crm.url}/_mock/seed", timeout=10, json={"widgets": []})
    assert bad_seed.status_code == 400 and "widgets" in bad_seed.json()["error"]["message"]


def test_admin_unknown_path_is_404(crm: MockDataverse) -> None:
    assert requests.get(f"{crm.url}/_mock/nothing", timeout=10).status_code == 404
    assert requests.get(f"{crm.url}/elsewhere", timeout=10).status_code == 404


def test_keep_alive_reuses_one_connection(crm: MockDataverse, api: Api) -> None:
    for _ in range(5):
        assert api.get("WhoAmI").status_code == 200
    pool = api.session.get_adapter(crm.url).poolmanager
    (conn_pool,) = pool.pools._container.values()
    assert conn_pool.num_connections == 1


@pytest.mark.parametrize("workers", [8])
def test_concurrent_writers_are_thread_safe(crm: MockDataverse, api: Api, workers: int) -> None:
    def work(n: int) -> None:
        session = requests.Session()
        session.headers.update(api.session.headers)
        for i in range(20):
            resp = session.post(f"{crm.api_url}/tasks", json={"subject": f"{n}-{i}"}, timeout=30)
            assert resp.status_code == 204

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(crm.rows("tasks")) == workers * 20


def test_latency_is_added_to_api_requests_only(make_crm: MakeCrm) -> None:
    crm = make_crm(latency_ms=250)
    slept: list[float] = []
    crm.limits.sleep = slept.append
    api = Api(crm)  # the token request gets no latency
    assert slept == []
    api.get("WhoAmI")
    api.get("leads")
    assert slept == [0.25, 0.25]
    crm.set_faults(latency_ms=0)
    api.get("leads")
    assert len(slept) == 2
    assert requests.get(f"{crm.url}/_mock/faults", timeout=10).json()["latency_ms"] == 0
