import json

from cli_helpers import EXAMPLES, leads, rid

from connector.engine.models import Record

COLD = str(EXAMPLES / "cold-lead-outreach.toml")
OPPS = str(EXAMPLES / "opportunity-follow-up.toml")


def setup(cli, active=True):
    cli("sequence", "apply", COLD, *(["--activate"] if active else []))
    cli.seed(*leads(1, 2, 3, 4))


def test_connect_and_inspect(cli):
    setup(cli)
    result = json.loads(cli("--json", "connect", "cold lead outreach", rid(1), rid(2)).stdout)
    assert (result["succeeded"], result["skipped"]) == (2, 0)
    rows = json.loads(cli("--json", "sequence", "records", "Cold lead outreach").stdout)["records"]
    assert [(r["record_id"], r["step"], r["state"]) for r in rows] == [
        (rid(1), "1/5 email: Introduction", "scheduled"),
        (rid(2), "1/5 email: Introduction", "scheduled")]
    human = cli("sequence", "records", "Cold lead outreach").stdout
    assert "Lead 1" in human and "current step" in human
    shown = json.loads(cli("--json", "sequence", "show", "Cold lead outreach").stdout)
    assert shown["connected_records"] == 2


def test_connect_inactive_sequence(cli):
    setup(cli, active=False)
    err = cli("connect", "Cold lead outreach", rid(1), code=2).stderr
    assert "sequence 'Cold lead outreach' is inactive: activate it first" in err


def test_connect_record_of_the_wrong_table(cli):
    setup(cli)
    cli.seed(Record(id=rid(50), table="opportunity", name="Big deal"))
    err = cli("connect", "Cold lead outreach", rid(50), code=2).stderr
    assert (f"record {rid(50)} is an opportunity, but sequence 'Cold lead outreach' is for "
            "lead records") in err


def test_connect_already_connected_record_names_its_sequence(cli):
    setup(cli)
    cli("connect", "Cold lead outreach", rid(1))
    cli("sequence", "apply", OPPS)
    err = cli("connect", "Cold lead outreach", rid(1), code=2).stderr
    assert err.strip() == (f"seqsync: error: record {rid(1)} is already connected to sequence "
                           "'Cold lead outreach': disconnect it first")


def test_partial_connect_exits_1_and_lists_each_record(cli, tmp_path):
    setup(cli)
    cli("connect", "Cold lead outreach", rid(1))
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# leads from the fair\n{rid(1)}\n{rid(2)}  # Maria\n\n{rid(99)}\n")
    result = cli("--json", "connect", "Cold lead outreach", "--file", str(ids), code=1)
    data = json.loads(result.stdout)
    assert [(r["record_id"], r["result"]) for r in data["records"]] == [
        (rid(1), "skipped"), (rid(2), "connected"), (rid(99), "skipped")]
    assert "2 of 3 records skipped" in result.stderr


def test_connect_where_takes_open_unconnected_matches(cli):
    setup(cli)
    cli.seed(Record(id=rid(5), table="lead", name="Lyon lead", columns={"companyname": "Lyon"}),
             Record(id=rid(6), table="lead", name="Closed", columns={"companyname": "Lyon"},
                    is_open=False))
    result = json.loads(cli("--json", "connect", "Cold lead outreach", "--where",
                            "companyname=Lyon").stdout)
    assert [r["record_id"] for r in result["records"]] == [rid(5)]
    assert "no records match" in cli("connect", "Cold lead outreach", "--where",
                                     "companyname=Paris").stdout
    assert "nothing to connect" in cli("connect", "Cold lead outreach", code=2).stderr
    assert "expected COLUMN=VALUE" in cli("connect", "Cold lead outreach", "--where",
                                          "companyname", code=2).stderr


def test_disconnect_and_reconnect(cli):
    setup(cli)
    cli("connect", "Cold lead outreach", rid(1), rid(2))
    assert "2 disconnected" in cli("disconnect", rid(1), rid(2)).stdout
    assert f"record {rid(1)} is not connected" in cli("disconnect", rid(1), code=2).stderr
    cli("connect", "Cold lead outreach", rid(1))
    history = json.loads(cli("--json", "records", "show", rid(1)).stdout)["history"]
    assert [(h["event"], h["reason"]) for h in history] == [
        ("connected", None), ("ended", "user_disconnected"), ("connected", None)]


def test_records_list_and_show(cli):
    setup(cli)
    cli("connect", "Cold lead outreach", rid(1))
    listed = json.loads(cli("--json", "records", "list", "--entity", "lead").stdout)
    assert len(listed) == 4 and listed[0]["sequence"] == "Cold lead outreach"
    unconnected = json.loads(cli("--json", "records", "list", "--unconnected").stdout)
    assert rid(1) not in {r["id"] for r in unconnected} and len(unconnected) == 3
    where = json.loads(cli("--json", "records", "list", "--where", "name=Lead 2").stdout)
    assert [r["id"] for r in where] == [rid(2)]
    shown = json.loads(cli("--json", "records", "show", rid(1)).stdout)
    assert shown["up_next"]["step"] == "1/5 email: Introduction"
    assert shown["up_next"]["then"] == [
        "wait 2 days", "phonecall: Follow-up call", "wait 3 days 12 hours",
        "task: Decide next step"]
    human = cli("records", "show", rid(1)).stdout
    assert "up next" in human and "History" in human
    assert "not connected" in cli("records", "show", rid(2)).stdout
    assert "no record 'nope'" in cli("records", "show", "nope", code=2).stderr


def test_delete_with_connected_records_needs_yes(cli):
    setup(cli)
    cli("connect", "Cold lead outreach", rid(1), rid(2))
    err = cli("sequence", "delete", "Cold lead outreach", code=2).stderr
    assert "has 2 connected records" in err and "--yes" in err
    out = cli("sequence", "delete", "Cold lead outreach", "--yes").stdout
    assert "2 records disconnected" in out
    history = json.loads(cli("--json", "records", "show", rid(1)).stdout)["history"]
    assert history[-1]["reason"] == "sequence_deleted"
    assert json.loads(cli("--json", "sequence", "list").stdout) == []


def test_deactivated_sequence_shows_paused_records(cli):
    setup(cli)
    cli("connect", "Cold lead outreach", rid(1))
    cli("sequence", "deactivate", "Cold lead outreach")
    assert "paused" in cli("sequence", "records", "Cold lead outreach").stdout


def test_connect_where_many_prints_a_summary_unless_asked(cli, monkeypatch):
    import connector.connecting as connecting

    monkeypatch.setattr(connecting, "CONNECT_SLICE", 40)  # several pages, each its own
    cli("sequence", "apply", COLD, "--activate")
    # (--where names a mapped column: an unknown one is refused.)
    cli.seed(*leads(*range(1, 151), columns={"companyname": "Lyon"}))
    cli("connect", "Cold lead outreach", rid(7))
    out = cli("connect", "Cold lead outreach", "--where", "companyname=Lyon").stdout
    assert "149 connected, 0 skipped" in out
    assert rid(8) not in out  # no 149-row table
    shown = json.loads(cli("--json", "sequence", "show", "Cold lead outreach").stdout)
    assert shown["connected_records"] == 150

    cli("disconnect", *(rid(n) for n in range(1, 151)))
    listed = cli("--json", "connect", "Cold lead outreach", "--where", "companyname=Lyon",
                 "--list")
    rows = json.loads(listed.stdout)["records"]
    assert len(rows) == 150 and {r["result"] for r in rows} == {"connected"}


def test_connect_many_with_skips_names_the_first_ones(cli):
    cli("sequence", "apply", COLD, "--activate")
    cli.seed(*leads(*range(1, 121)))
    ids = [rid(n) for n in range(1, 121)] + [rid(5000), rid(5001)]
    result = cli("--json", "connect", "Cold lead outreach", *ids, code=1)
    data = json.loads(result.stdout)
    assert (data["succeeded"], data["skipped"]) == (120, 2)
    assert [s["record_id"] for s in data["first_skipped"]] == [rid(5000), rid(5001)]
    assert "2 of 122 records skipped" in result.stderr
