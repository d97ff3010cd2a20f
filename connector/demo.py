"""`seqsync demo`: the whole product on an embedded mock CRM, told day by day.

Real MSAL against the mock's token endpoint, real HTTPS with a CA made at start, real SQLite,
and the same `run_sync` that cron runs. Sellers' work (completing, cancelling, qualifying,
deleting) is done the way a seller's app would: Web API PATCH and DELETE calls to the mock.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.app import App, open_app
from connector.config import Settings, load_settings
from connector.dataverse.client import DataverseClient
from connector.engine.models import ConnectRequest, Sequence
from connector.mockserver import MockDataverse
from connector.pipeline.context import Message
from connector.sequence_file import load_sequence_file
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.store import records as record_store
from connector.store.outbox import OutboxStatus
from connector.sync.report import RunReport
from connector.sync.run import run_sync

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sequences"
SECRET_ENV = "SEQSYNC_DEMO_CLIENT_SECRET"
DAY0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday morning
LEADS, OPPORTUNITIES = 30, 12
PLURAL = {"lead": "leads", "opportunity": "opportunities"}

SECOND_LEAD_SEQUENCE = """\
name = "Re-engagement"
description = "For leads that went quiet"
entity = "lead"

[[steps]]
type = "email"
name = "Checking in"
"""


class Demo:
    def __init__(self, folder: Path, crm: MockDataverse, console: Console) -> None:
        self.folder = folder
        self.crm = crm
        self.say = console.print
        self.console = console
        self.settings = self._configure()
        self.seller = DataverseClient(self.settings.crm)  # the sellers' own app, in effect

    def _configure(self) -> Settings:
        os.environ[SECRET_ENV] = self.crm.client_secret
        config = self.folder / "seqsync.toml"
        config.write_text(
            f'[state]\nurl = "sqlite:///{self.folder / "seqsync.db"}"\n\n'
            f'[crm]\nurl = "{self.crm.url}"\ntenant_id = "{self.crm.tenant}"\n'
            f'client_id = "{self.crm.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n'
            f'authority_host = "{self.crm.url}"\nca_bundle = "{self.crm.ca_file}"\n'
            f'token_cache = "{self.folder / "token-cache.json"}"\n\n'
            '[log]\nlevel = "WARNING"\n',
            encoding="utf-8",
        )
        return load_settings(config)

    @contextmanager
    def app(self, now: datetime) -> Iterator[App]:
        with open_app(self.settings, now=now) as app:
            yield app

    def sync(self, now: datetime, headline: str) -> RunReport:
        report = run_sync(self.settings, now=now)
        s = report.summary()
        created = ", ".join(f"{n} {t}" for t, n in sorted(s["activities_created"].items()))
        gone = ", ".join(f"{n} {r}" for r, n in sorted(s["records_disconnected"].items()))
        self.say(f"\n[bold cyan]{now:%a %d %b %H:%M}[/]  seqsync sync  [dim]({headline})[/]")
        if s["rows_pulled"]:
            pulled = ", ".join(
                f"{n} {PLURAL.get(t, t)}" for t, n in sorted(s["rows_pulled"].items())
            )
            self.say(f"  pulled {pulled} from the CRM")
        if s["activities_completed"] or s["activities_skipped"]:
            self.say(f"  saw {s['activities_completed']} activities completed and "
                     f"{s['activities_skipped']} cancelled by sellers: those records move on")
        if gone:
            self.say(f"  disconnected: {gone}")
        self.say(f"  created in the CRM: {created or 'nothing new due'}")
        self.say(f"  [dim]{s['crm_requests']} Web API requests, {s['duration_seconds']:.2f} s[/]")
        return report

    # What sellers do in the CRM ---------------------------------------------------------------

    def open_activities(self, entity_set: str) -> list[dict[str, object]]:
        return [r for r in self.crm.rows(entity_set) if r.get("statecode") == 0]

    def finish(self, entity_set: str, rows: list[dict[str, object]], when: datetime,
               cancel: bool = False) -> None:
        state = {"emails": (1, 2, 2, 5), "phonecalls": (1, 2, 2, 3), "tasks": (1, 5, 2, 6)}
        done_state, done_status, cancel_state, cancel_status = state[entity_set]
        body = {
            "statecode": cancel_state if cancel else done_state,
            "statuscode": cancel_status if cancel else done_status,
            "actualend": when.isoformat().replace("+00:00", "Z"),
        }
        for row in rows:
            self.seller.update(entity_set, str(row["activityid"]), body)

    # The story --------------------------------------------------------------------------------

    def run(self) -> None:
        self.say(f"[bold]seqsync demo[/]: a mock Dataverse at {self.crm.url} (HTTPS, tenant "
                 f"{self.crm.tenant}) with {LEADS} leads and {OPPORTUNITIES} opportunities.")
        self.say(f"State and config in {self.folder}.")
        self.sync(DAY0, "first run: full read of leads and opportunities")

        with self.app(DAY0) as app:
            seqs = self.apply_sequences(app)
            lead_ids, opp_ids = self.connect(app, seqs)

        self.sync(DAY0 + timedelta(minutes=5), "first steps are due at once")
        emails = self.open_activities("emails")
        self.say(f"  the CRM now holds {len(emails)} open emails regarding those records")

        afternoon = DAY0 + timedelta(hours=6)
        self.say(f"\n[bold]{afternoon:%a %H:%M}[/]  sellers work in the CRM:")
        # Sellers finish the first seven leads' emails; leads 9 and 10 leave the CRM's pipeline.
        working = set(lead_ids[:7])
        ours = [e for e in emails if str(e["_regardingobjectid_value"]) in working]
        opp_emails = [e for e in emails if str(e["_regardingobjectid_value"]) in opp_ids]
        self.finish("emails", ours[:6], afternoon)
        self.finish("emails", ours[6:7], afternoon, cancel=True)
        self.finish("emails", opp_emails[:3], afternoon)
        self.say("  6 lead emails sent (completed), 1 cancelled, 3 opportunity emails sent")
        qualified, deleted = lead_ids[8], lead_ids[9]
        self.seller.update("leads", qualified, {"statecode": 1, "statuscode": 3})
        self.seller.delete("leads", deleted)
        self.say(f"  lead {self.name(qualified)} is qualified; "
                 f"lead {self.name(deleted)} is deleted")

        self.sync(DAY0 + timedelta(days=1), "completions count; the waits start")
        self.sync(DAY0 + timedelta(days=2, hours=9), "waits are over: follow-up calls are due")

        with self.app(DAY0 + timedelta(days=2, hours=10)) as app:
            result = app.execute(Message.DELETE, seqs["opportunity"].id)
            self.say(f"\n[bold]{DAY0 + timedelta(days=2, hours=10):%a %H:%M}[/]  seqsync "
                     f"sequence delete {seqs['opportunity'].name!r} --yes: "
                     f"{result.disconnected} records disassociated (sequence_deleted)")

        calls = [c for c in self.open_activities("phonecalls")
                 if str(c["_regardingobjectid_value"]) in lead_ids]
        day3 = DAY0 + timedelta(days=3, hours=4)
        self.finish("phonecalls", calls[:5], day3)
        self.say(f"\n[bold]{day3:%a %H:%M}[/]  sellers make 5 of the follow-up calls")
        self.sync(DAY0 + timedelta(days=7), "a week later: decision tasks are due")
        self.sync(DAY0 + timedelta(days=7, minutes=5), "nothing new: a quiet run is cheap")
        self.final_tables()

    def apply_sequences(self, app: App) -> dict[str, Sequence]:
        seqs: dict[str, Sequence] = {}
        self.say("\n[bold]Sales manager[/]: seqsync sequence apply examples/sequences/*.toml "
                 "--activate")
        extra = self.folder / "re-engagement.toml"
        extra.write_text(SECOND_LEAD_SEQUENCE, encoding="utf-8")
        for path in [*sorted(EXAMPLES.glob("*.toml")), extra]:
            created = app.execute(Message.CREATE, load_sequence_file(path))
            seq = app.execute(Message.ACTIVATE, created.id)
            seqs.setdefault(seq.entity, seq)
            seqs[seq.name] = seq
            steps = " -> ".join(s.type.value if not s.is_wait else f"wait {s.days}d{s.hours}h"
                                for s in seq.steps)
            self.say(f"  {seq.name!r} ({seq.entity}): {steps}")
        return seqs

    def connect(self, app: App, seqs: dict[str, Sequence]) -> tuple[list[str], list[str]]:
        with app.store.begin() as db:
            leads = record_store.query_records(db, table="lead", open_only=True, limit=10)
            opps = record_store.query_records(db, table="opportunity", open_only=True, limit=4)
        self._names = {r.id: r.name for r in [*leads, *opps]}
        lead_ids, opp_ids = [r.id for r in leads], [r.id for r in opps]
        for seq, ids in ((seqs["lead"], lead_ids), (seqs["opportunity"], opp_ids)):
            result = app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))
            ok = sum(1 for o in result.outcomes if o.ok)
            self.say(f"  seqsync connect {seq.name!r}: {ok} {PLURAL.get(seq.entity)} connected")
        refused = app.execute(Message.CONNECT,
                              ConnectRequest(seqs["Re-engagement"].id, lead_ids[:1]))
        self.say(f"  seqsync connect 'Re-engagement' {self.name(lead_ids[0])}: "
                 f"[yellow]{refused.outcomes[0].status}[/] ({refused.outcomes[0].reason})")
        return lead_ids, opp_ids

    def name(self, record_id: str) -> str:
        return self._names.get(record_id, record_id)

    def final_tables(self) -> None:
        states = {0: "open", 1: "completed", 2: "cancelled"}
        table = Table(title="Activities in the CRM, read back through its Web API")
        for column in ("type", "open", "completed", "cancelled"):
            table.add_column(column)
        for entity_set in ("emails", "phonecalls", "tasks"):
            counts = Counter(states[int(r["statecode"])] for r in self.seller.query(
                entity_set, ["activityid", "statecode"]))
            table.add_row(entity_set, *(str(counts[s]) for s in ("open", "completed", "cancelled")))
        self.say()
        self.say(table)

        with open_app(self.settings) as app, app.store.read() as db:
            current = connection_store.count_by_state(db)
            ended = connection_store.ended_by_reason(db)
            pushed = outbox_store.count_by_status(db).get(OutboxStatus.PUSHED, 0)
        crm_total = sum(len(self.crm.rows(s)) for s in ("emails", "phonecalls", "tasks"))
        conn_table = Table(title="Connections in the local state")
        conn_table.add_column("status")
        conn_table.add_column("records")
        for state, n in sorted(current.items()):
            conn_table.add_row(f"connected, {state}", str(n))
        for reason, n in sorted(ended.items()):
            conn_table.add_row(f"ended: {reason}", str(n))
        self.say(conn_table)
        verdict = "exactly once" if pushed == crm_total else "[red]MISMATCH[/]"
        self.say(f"Activities seqsync pushed: {pushed}; activities in the CRM: {crm_total} "
                 f"({verdict}).")


def run_demo(keep: Path | None = None, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    with _folder(keep) as folder, MockDataverse(
        generate={"leads": LEADS, "opportunities": OPPORTUNITIES}
    ) as crm:
        demo = Demo(folder, crm, console)
        try:
            demo.run()
        finally:
            demo.seller.close()


@contextmanager
def _folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for stale in ("seqsync.db", "seqsync.db-wal", "seqsync.db-shm", "token-cache.json"):
            (keep / stale).unlink(missing_ok=True)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="seqsync-demo-") as tmp:
        yield Path(tmp)
