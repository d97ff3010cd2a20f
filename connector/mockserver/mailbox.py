"""The seller's mailbox, as server-side synchronization would act on Dataverse: replies
arriving and deliveries failing."""

from __future__ import annotations

import uuid

from .schema import BY_LOGICAL
from .service import LOOKUP_NOTE, Dataverse


def receive_email(
    dv: Dataverse,
    sender: tuple[str, str] | str,
    subject: str,
    *,
    description: str = "",
    regarding: tuple[str, str] | None = None,
    in_reply_to: str | None = None,
) -> str:
    """A prospect's email arriving through server-side sync: incoming (`directioncode`
    false), Received (1/4), the sender as a From party (`("leads", id)` or an address),
    linked to the email it answers (`in_reply_to`: an email id) and to its regarding row."""
    with dv.store.transaction():
        party: dict[str, object] = {"participationtypemask": 1}
        if isinstance(sender, tuple):
            tdef = dv.table(sender[0]).definition
            party[f"partyid_{tdef.logical}@odata.bind"] = f"/{sender[0]}({sender[1]})"
        else:
            party["addressused"] = sender
        body: dict[str, object] = {"subject": subject, "description": description,
                                   "directioncode": False,
                                   "email_activity_parties": [party]}
        original = None
        if in_reply_to is not None:
            original = dv.table("emails").rows.get(str(in_reply_to).lower())
            if original is None:
                raise KeyError(f"emails({in_reply_to}) does not exist")
            body["parentactivityid@odata.bind"] = f"/emails({original['activityid']})"
            body["inreplyto"] = original.get("messageid") or f"<{original['activityid']}@mock>"
            body["conversationtrackingid"] = (original.get("conversationtrackingid")
                                              or str(uuid.uuid4()))
            if regarding is None and original.get("_regardingobjectid_value"):
                note = original.get("_regardingobjectid_value" + LOOKUP_NOTE)
                target = BY_LOGICAL[str(note)].entity_set
                regarding = (target, str(original["_regardingobjectid_value"]))
        if regarding is not None:
            logical = dv.table(regarding[0]).definition.logical
            body[f"regardingobjectid_{logical}_email@odata.bind"] = (
                f"/{regarding[0]}({regarding[1]})")
        body["messageid"] = f"<{uuid.uuid4()}@mock.example>"
        row = dv.create("emails", body)
        email_id = str(row["activityid"])
        dv.update("emails", email_id, {"statecode": 1, "statuscode": 4})
    return email_id


def fail_email(dv: Dataverse, email_id: str) -> None:
    """The mailbox could not deliver a sent email: Dataverse reopens it as Failed (0/8)."""
    dv.update("emails", str(email_id).lower(), {"statecode": 0, "statuscode": 8})
