"""Deterministic replays of the crash windows the random kills found."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.world import T0, World

from connector.store.schema import outbox
from connector.sync.crm import make_client

from .invariants import check

NOW = T0 + timedelta(minutes=1)


class Crash(BaseException):
    """Stands in for kill -9: nothing after it runs, no handler catches it as an error."""


def _dies_after_the_crm_takes_the_chunk(settings):  # type: ignore[no-untyped-def]
    client = make_client(settings)
    original = client.create_multiple

    def create_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
        original(*args, **kwargs)
        raise Crash

    client.create_multiple = create_then_die  # type: ignore[method-assign]
    return client


@pytest.mark.parametrize("what_the_seller_did", ["deleted", "disqualified"])
def test_an_activity_sent_just_before_a_crash_is_not_forgotten_when_its_record_ends(
    world: World, what_the_seller_did: str
) -> None:
    world.sync(T0)
    lead = world.open_leads(1)
    world.connect(world.sequence(), lead)
    with pytest.raises(Crash):
        world.sync(NOW, client_factory=_dies_after_the_crm_takes_the_chunk)
    [email] = world.crm.rows("emails")
    assert {o.status for o in world.db(outbox)} == {"pending"}  # the store never heard back
    world.complete("emails", str(email["activityid"]), NOW)
    if what_the_seller_did == "deleted":
        world.crm.delete("leads", lead[0])
    else:
        world.crm.update("leads", lead[0], {"statecode": 2, "statuscode": 4})
    # The next run's pull ends the connection before reconcile sees the email: the store must
    # still learn that the email exists (it used to stay "cancelled", i.e. never sent).
    report = world.sync(NOW + timedelta(minutes=1))
    assert report.outcome == "ok", report.errors
    [item] = world.db(outbox)
    assert (item.status, item.crm_state) == ("pushed", "completed")
    assert len(world.crm.rows("emails")) == 1
    assert check(world, NOW + timedelta(minutes=1), complete=True).ok


def test_an_activity_the_seller_deleted_after_a_crash_is_not_created_again(world: World) -> None:
    """Issue 16, defect 1: the chunk reached the CRM, the run died before recording it, and
    a seller deleted one of those activities: the next run must see the deletion as the
    seller skipping the step, not re-create the activity."""
    world.write_config(sync={"batch_size": 2, "max_workers": 1})  # one chunk in flight
    world.sync(T0)
    leads = world.open_leads(4)
    world.connect(world.sequence(), leads)
    with pytest.raises(Crash):
        world.sync(NOW, client_factory=_dies_after_the_crm_takes_the_chunk)
    sent = world.crm.rows("emails")
    assert len(sent) == 2  # one chunk of two reached the CRM
    assert {o.status for o in world.db(outbox)} == {"pending"}
    deleted = str(sent[0]["activityid"])
    world.crm.delete("emails", deleted)

    report = world.sync(NOW + timedelta(minutes=1))

    assert report.outcome == "ok", report.errors
    in_crm = {str(r["activityid"]) for r in world.crm.rows("emails")}
    assert deleted not in in_crm
    assert len(in_crm) == 3
    assert report.activities_skipped == 1
    item = next(o for o in world.db(outbox) if o.activity_id == deleted)
    assert (item.status, item.crm_state) == ("pushed", "canceled")
    lead = item.record_id
    assert ("step_skipped" in [h.event for h in world.history(lead)]
            or any(h.step_name == "Call" for h in world.history(lead))), world.history(lead)
    verdict = check(world, NOW + timedelta(minutes=1), complete=True,
                    deleted_activities=frozenset({deleted}))
    assert verdict.ok, verdict
