from dataclasses import replace

from engine_helpers import T0, call, email, sequence, wait

from connector.engine.connections import connect_refusal, end, start
from connector.engine.models import ConnectionState, EndReason


def test_connect_preconditions(lead):
    seq = sequence(email(), wait(days=1), call())
    assert connect_refusal(seq, lead.id, lead, None) is None
    assert "inactive" in connect_refusal(replace(seq, status="inactive"), lead.id, lead, None)
    assert "not known locally" in connect_refusal(seq, "r-9", None, None)
    opp = replace(lead, table="opportunity")
    assert "is an opportunity, but sequence 'Cold' is for lead records" in connect_refusal(
        seq, lead.id, opp, None
    )
    assert "is closed" in connect_refusal(seq, lead.id, replace(lead, is_open=False), None)
    assert "deleted" in connect_refusal(seq, lead.id, replace(lead, is_deleted=True), None)
    reason = connect_refusal(seq, lead.id, lead, "Warm leads")
    assert reason == (
        "record r-1 is already connected to sequence 'Warm leads': disconnect it first"
    )


def test_start_is_due_now_at_step_one():
    seq = sequence(email(), wait(days=1), call())
    conn, event = start(seq, "r-1", T0, connection_id="c-1")
    assert (conn.step_id, conn.state, conn.due_at) == ("s-email", ConnectionState.SCHEDULED, T0)
    assert (event.event, event.connection_id, event.at) == ("connected", "c-1", T0)


def test_end_records_reason():
    conn, _ = start(sequence(email()), "r-1", T0)
    event = end(conn, EndReason.USER_DISCONNECTED, T0, "bye")
    assert (event.event, event.reason, event.message) == ("ended", EndReason.USER_DISCONNECTED,
                                                          "bye")
