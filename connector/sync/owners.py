"""Phase 1b: the CRM users' time zones and working days, for pacing.

Read from `usersettingscollection` for the owners of mirrored records (each again after a
week), the Windows zone names from `timezonedefinitions`, mapped to IANA names with CLDR's
table (tzlocal ships it). Where the settings cannot be read (no privilege, an unknown zone),
pacing uses [pacing] timezone and hours: a warning, never a failed run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from tzlocal.windows_tz import win_tz

from connector.dataverse.errors import DataverseError
from connector.store import pacing as pacing_store
from connector.store.chunks import chunks
from connector.store.pacing import OwnerSettings
from connector.sync.run_context import SyncContext

log = logging.getLogger("seqsync.sync")

REFRESH = timedelta(days=7)  # a user rarely changes time zone; a week is fresh enough
USER_COLUMNS = ["systemuserid", "timezonecode", "workdaystarttime", "workdaystoptime"]
CHUNK = 50  # ids per In(...) filter: well inside URL length limits


def _wanted(ctx: SyncContext) -> list[str]:
    with ctx.app.store.begin() as db:
        owners = pacing_store.record_owners(db)
        known = pacing_store.owner_settings_of(db)
    return [o for o in owners if o not in known or known[o].read_on <= ctx.now - REFRESH]


def _zone_names(ctx: SyncContext, codes: set[int]) -> dict[int, str]:
    """timezonecode -> IANA name, for the codes CLDR can map."""
    if not codes:
        return {}
    wanted = " or ".join(f"timezonecode eq {code}" for code in sorted(codes))
    rows = ctx.crm.query("timezonedefinitions", ["timezonecode", "standardname"],
                            f"retiredorder eq 0 and ({wanted})")
    return {row["timezonecode"]: win_tz[row["standardname"]] for row in rows
            if isinstance(row.get("timezonecode"), int) and row.get("standardname") in win_tz}


def read_owner_settings(ctx: SyncContext) -> None:
    if not ctx.settings.pacing.read_user_settings:
        return
    owners = _wanted(ctx)
    if not owners:
        return
    try:
        rows = [row for batch in chunks(owners, CHUNK)
                for row in ctx.crm.query_in("usersettingscollection", "systemuserid", batch,
                                               select=USER_COLUMNS)]
        zones = _zone_names(ctx, {r["timezonecode"] for r in rows
                                  if isinstance(r.get("timezonecode"), int)})
    except DataverseError as exc:
        log.warning("cannot read the owners' user settings (%s): pacing uses [pacing] timezone "
                    "and hours for them", exc)
        return
    found = {str(r.get("systemuserid", "")).lower(): r for r in rows}
    settings = []
    for owner in owners:
        row = found.get(owner, {})
        code = row.get("timezonecode")
        code = code if isinstance(code, int) else None
        settings.append(OwnerSettings(
            owner_id=owner, timezone=zones.get(code) if code is not None else None,
            timezonecode=code, work_start=_hhmm(row.get("workdaystarttime")),
            work_end=_hhmm(row.get("workdaystoptime")), read_on=ctx.now,
        ))
    with ctx.app.store.begin() as db:
        pacing_store.save_owner_settings(db, settings)


def _hhmm(value: object) -> str | None:
    text = str(value) if isinstance(value, str) else ""
    hour, _, minute = text.partition(":")
    if hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60:
        return f"{int(hour):02d}:{int(minute):02d}"
    return None
