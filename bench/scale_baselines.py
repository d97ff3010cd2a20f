"""The two baselines, run against a second mock holding the same generated tenant.

Both create the very payloads seqsync sent in the first sync (read back from its state, the
same code building them), so the only difference is how they reach the CRM:
(a) seqsync's own client, one POST per activity, on a sample, extrapolated to every row;
(b) Microsoft's `PowerPlatform-Dataverse-Client` list create (CreateMultiple, 1,000 a call).
They run on their own mock so their rows never mix with the ones the exactly-once check reads.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scale_harness import MockProcess, api_requests
from scale_tenant import crm_client

from connector.config import load_settings
from connector.dataverse import odata
from connector.engine.models import StepType
from connector.mapping import load_mappings
from connector.sync.payloads import build_payloads

BULK = 1000


def email_payloads(config: Path, state_db: Path, limit: int | None = None,
                   ) -> Iterator[list[dict[str, Any]]]:
    """The email bodies seqsync pushed, BULK at a time, oldest activity id first."""
    settings = load_settings(config)
    mapping = load_mappings(settings.sync.mappings_dir, settings.sync.tables).activity(
        StepType.EMAIL)
    # The columns of `store.outbox.pending_chunks`, in its order, for `build_payloads`.
    query = ("SELECT outbox.activity_id, outbox.record_id, outbox.record_table, outbox.subject, "
             "outbox.description, outbox.due_at, outbox.owner_id, outbox.owner_type, records.id, "
             "records.owner_id, records.owner_type, records.columns, outbox.activity_id "
             "FROM outbox "
             "LEFT JOIN records ON records.id = outbox.record_id "
             "WHERE outbox.activity_type = 'email' AND outbox.activity_id > ? "
             "ORDER BY outbox.activity_id LIMIT ?")
    left = limit if limit is not None else -1
    after = ""
    with sqlite3.connect(state_db) as db:
        while left != 0:
            size = BULK if left < 0 else min(BULK, left)
            rows = db.execute(query, (after, size)).fetchall()
            if not rows:
                return
            chunk = [(*r[:5], datetime.fromisoformat(r[5]).replace(tzinfo=UTC), *r[6:])
                     for r in rows]
            yield [body for _, _, body in build_payloads(mapping, chunk)]
            after = rows[-1][0]
            left = left - len(rows) if left > 0 else left


def one_post_per_row(mock: MockProcess, config: Path, state_db: Path, sample: int,
                     total: int) -> dict[str, Any]:
    """Baseline (a): the same client, one `POST emails` per activity, as many in flight as
    seqsync's push allows; measured on `sample` rows and extrapolated to `total`."""
    client = crm_client(config, mock.info["client_secret"])
    client.whoami()
    # Fresh ids: the SDK baseline sends these same payloads with their own ids afterwards.
    bodies = [{**b, "activityid": str(uuid.uuid4())}
              for part in email_payloads(config, state_db, sample) for b in part]
    url = client.url(odata.name("emails"))
    workers = max(1, min(client.concurrency, 16))
    before = mock.stats()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda b: client.request("POST", url, idempotent=True, json_body=b),
                      bodies))
    wall = time.perf_counter() - started
    routes = api_requests(before, mock.stats())
    client.close()
    made = len(bodies)
    scale = total / made if made else 0
    return {
        "label": f"one POST per activity ({made} rows measured, extrapolated to {total})",
        "rows_measured": made, "wall_measured_s": round(wall, 3), "requests_measured":
        sum(routes.values()), "requests_by_kind": routes, "workers": workers,
        "throttled_measured": client.metrics.throttled,
        "requests": round(sum(routes.values()) * scale), "wall_s": round(wall * scale, 2),
        "extrapolated": True,
    }


def sdk_create_multiple(mock: MockProcess, config: Path, state_db: Path,
                        total: int) -> dict[str, Any]:
    """Baseline (b): Microsoft's SDK, `records.create("email", [...])` 1,000 rows a call."""
    from azure.core.credentials import AccessToken
    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient

    ours = crm_client(config, mock.info["client_secret"])  # its MSAL provider gets the tokens

    class Credential:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            del scopes, kwargs
            return AccessToken(ours.tokens.get_token(), int(time.time()) + 3000)

    os.environ["REQUESTS_CA_BUNDLE"] = mock.info["ca_file"]
    made = 0
    before = mock.stats()
    started = time.perf_counter()
    try:
        with SdkClient(mock.url, Credential()) as sdk:
            for part in email_payloads(config, state_db, total):
                made += len(sdk.records.create("email", part))
    finally:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    wall = time.perf_counter() - started
    routes = api_requests(before, mock.stats())
    return {"label": "PowerPlatform-Dataverse-Client 1.1.0 list create (CreateMultiple)",
            "rows": made, "requests": sum(routes.values()), "requests_by_kind": routes,
            "wall_s": round(wall, 2), "extrapolated": False}
