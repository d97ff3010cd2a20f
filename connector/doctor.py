"""`seqsync doctor`: is this set-up ready to sync? One check per line, in the order a new
tenant set-up fails: config, CA, credential, token, WhoAmI, clock, tables, state database.

Every check talks to the CRM through the same DataverseClient a run uses. Nothing is written
to the CRM: the create check sends an atomic `$batch` change set whose second request must fail
(a PATCH of a row that does not exist), so the CRM rolls the probe create back, and its answer
to the create tells whether the application user may create that table's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from connector.app import open_app
from connector.config import Settings
from connector.dataverse.auth import MsalTokenProvider, client_credential
from connector.dataverse.batch import BatchOperation, BatchResult
from connector.dataverse.client import DataverseClient
from connector.errors import SeqsyncError
from connector.logs import register_secret
from connector.mapping import Mappings, load_for_settings
from connector.sync.crm import make_client
from connector.sync.lock import lock_path_for, uses_run_lock

MAX_SKEW_SECONDS = 300.0  # Entra and Dataverse tolerate about five minutes of clock skew


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok" | "fail" | "skip"
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Crm(Protocol):
    """What the doctor asks of the CRM (a DataverseClient; a test double in unit tests)."""

    def whoami_at(self) -> tuple[dict[str, Any], datetime | None]: ...
    def query(self, entity_set: str, select: list[str], filter: str | None = None, *,
              orderby: str | None = None, page_size: int = ..., key: str | None = None,
              ) -> Iterator[dict[str, Any]]: ...
    def entity_definition(self, logical_name: str, select: list[str]) -> dict[str, Any]: ...
    def execute_batch(self, operations: list[BatchOperation], continue_on_error: bool = ...,
                      atomic: bool = ...) -> list[BatchResult]: ...


class Doctor:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None,
                 ) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.checks: list[Check] = []

    def add(self, name: str, status: str, detail: str) -> bool:
        self.checks.append(Check(name, status, detail))
        return status == "ok"

    def skip(self, names: list[str], because: str) -> None:
        for name in names:
            self.add(name, "skip", f"not checked: {because}")

    def check_state(self) -> None:
        self.checks.append(state_check(self.settings))

    # -- the checklist ----------------------------------------------------------------------

    def run(self, crm_factory: Callable[[Settings], Crm] | None = None) -> list[Check]:
        mappings = self.check_config()
        later = self.crm_names(mappings)
        if mappings is None or not self.check_crm_settings():
            self.skip(later, "the configuration is incomplete")
            self.check_state()
            return self.checks
        if not (self.check_ca() & self.check_credential()):
            self.skip(later, "fix the lines above first")
            self.check_state()
            return self.checks
        try:
            crm = (crm_factory or self.real_client)(self.settings)
        except SeqsyncError as exc:
            self.add("token", "fail", str(exc))
            self.skip(later[1:], "no token")
            self.check_state()
            return self.checks
        try:
            if self.check_whoami(crm):
                self.check_tables(crm, mappings)
            else:
                self.skip(later[2:], "WhoAmI failed")
        finally:
            close = getattr(crm, "close", None)
            if close is not None:
                close()
        self.check_state()
        return self.checks

    def crm_names(self, mappings: Mappings | None) -> list[str]:
        names = ["token", "whoami", "clock skew"]
        if mappings is not None:
            for target in mappings.targets:
                names += [f"read {target.entity_set}", f"change tracking {target.logical_name}"]
            names += [f"create {a.entity_set}" for a in mappings.activities]
        return names

    def check_config(self) -> Mappings | None:
        try:
            mappings = load_for_settings(self.settings)
        except SeqsyncError as exc:
            self.add("config", "fail", str(exc))
            return None
        tables = ", ".join(t.logical_name for t in mappings.targets)
        activities = ", ".join(a.logical_name for a in mappings.activities)
        self.add("config", "ok", f"{self.settings.source}; tables {tables}; activities "
                 f"{activities}")
        return mappings

    def check_crm_settings(self) -> bool:
        crm = self.settings.crm
        missing = [k for k in ("url", "tenant_id", "client_id") if not getattr(crm, k)]
        if missing:
            return self.add("crm settings", "fail", f"[crm] {', '.join(missing)} not set")
        return self.add("crm settings", "ok",
                        f"{crm.url}, tenant {crm.tenant_id}, client {crm.client_id}")

    def check_ca(self) -> bool:
        path = self.settings.crm.ca_bundle
        if path is None:
            return self.add("ca", "ok", "system trust store (no [crm] ca_bundle)")
        try:
            certificates = x509.load_pem_x509_certificates(Path(path).read_bytes())
        except OSError as exc:
            return self.add("ca", "fail", f"[crm] ca_bundle {path}: {exc.strerror}")
        except ValueError:
            return self.add("ca", "fail", f"[crm] ca_bundle {path}: no PEM certificate in it")
        now = self.clock()
        expired = [c for c in certificates if c.not_valid_after_utc < now]
        if expired:
            return self.add("ca", "fail", f"[crm] ca_bundle {path}: a certificate expired on "
                            f"{expired[0].not_valid_after_utc:%Y-%m-%d}")
        return self.add("ca", "ok", f"{path}: {len(certificates)} certificate(s)")

    def check_credential(self) -> bool:
        crm = self.settings.crm
        try:
            credential = client_credential(crm)
        except SeqsyncError as exc:
            return self.add("credential", "fail", str(exc))
        if isinstance(credential, str):
            register_secret(credential)
            return self.add("credential", "ok",
                            f"client secret from ${crm.client_secret_env} (not shown)")
        return self.add("credential", "ok", f"certificate {crm.certificate_path} "
                        f"(thumbprint {credential['thumbprint']})")

    @staticmethod
    def real_client(settings: Settings) -> DataverseClient:
        """make_client checks [crm] once more; the token is fetched here, so a refused
        credential is the token check's failure, not WhoAmI's."""
        client = make_client(settings)
        tokens = client.tokens
        if isinstance(tokens, MsalTokenProvider):
            tokens.get_token()
        return client

    def check_whoami(self, crm: Crm) -> bool:
        self.add("token", "ok", "acquired from the authority")
        started = self.clock()
        try:
            who, server_time = crm.whoami_at()
        except SeqsyncError as exc:
            return self.add("whoami", "fail", str(exc))
        finished = self.clock()
        self.add("whoami", "ok", f"user {who.get('UserId')}, organization "
                 f"{who.get('OrganizationId')}")
        if server_time is None:
            self.add("clock skew", "fail", "the CRM's reply has no Date header to compare with")
        else:
            local = started + (finished - started) / 2
            skew = (local - server_time).total_seconds()
            # The Date header has whole seconds: up to one second of it is rounding.
            status = "ok" if abs(skew) <= MAX_SKEW_SECONDS + 1 else "fail"
            self.add("clock skew", status, f"{skew:+.1f} s against the CRM's clock (limit "
                     f"{MAX_SKEW_SECONDS:.0f} s)")
        return True

    def check_tables(self, crm: Crm, mappings: Mappings) -> None:
        for target in mappings.targets:
            try:
                rows = crm.query(target.entity_set, [target.primary_key], page_size=1)
                next(rows, None)
                self.add(f"read {target.entity_set}", "ok", "the application user may read it")
            except SeqsyncError as exc:
                self.add(f"read {target.entity_set}", "fail", str(exc))
            try:
                meta = crm.entity_definition(target.logical_name, ["ChangeTrackingEnabled"])
            except SeqsyncError as exc:
                self.add(f"change tracking {target.logical_name}", "fail", str(exc))
                continue
            if meta.get("ChangeTrackingEnabled") is True:
                self.add(f"change tracking {target.logical_name}", "ok", "enabled")
            else:
                self.add(f"change tracking {target.logical_name}", "fail",
                         "disabled: enable it on the table (EntityDefinitions "
                         "ChangeTrackingEnabled is false)")
        for activity in mappings.activities:
            self.add(f"create {activity.entity_set}",
                     *self._probe_create(crm, activity.entity_set))

    @staticmethod
    def _probe_create(crm: Crm, entity_set: str) -> tuple[str, str]:
        probe_id, missing_id = str(uuid.uuid4()), str(uuid.uuid4())
        operations = [
            BatchOperation("POST", entity_set, {"activityid": probe_id,
                                                "subject": "seqsync doctor probe (rolled back)"},
                           content_id="1"),
            BatchOperation("PATCH", f"{entity_set}({missing_id})", {"subject": "-"},
                           headers={"If-Match": "*"}, content_id="2"),
        ]
        try:
            results = crm.execute_batch(operations, atomic=True)
        except SeqsyncError as exc:
            return "fail", str(exc)
        failed = next((r for r in results if not r.ok), None)
        if failed is None:
            # The change set went through after all: take the probe back out.
            _delete(crm, entity_set, probe_id)
            return "ok", "created and deleted a probe row"
        # Replies may omit the Content-ID: the missing row's id in the message says it too.
        if failed.content_id == "2" or (failed.content_id is None
                                        and missing_id in failed.message.lower()):
            return "ok", "the application user may create rows (probe rolled back)"
        return "fail", failed.message or f"HTTP {failed.status}"


def _delete(crm: Crm, entity_set: str, row_id: str) -> None:
    delete = getattr(crm, "delete", None)
    if delete is not None:
        delete(entity_set, row_id)


def state_check(settings: Settings) -> Check:
    """The state database opens (and is migrated), and the lock file's folder is writable."""
    try:
        with open_app(settings):
            pass
    except SeqsyncError as exc:
        return Check("state database", "fail", str(exc))
    if not uses_run_lock(settings.state.url):
        # A server database has no run lock: workers share it through its own locks.
        return Check("state database", "ok", f"{_safe_url(settings.state.url)} opened")
    lock = lock_path_for(settings.state.url, settings.sync.lock_file)
    folder = lock.parent if str(lock.parent) else Path(".")
    if not os.access(folder, os.W_OK):
        return Check("state database", "fail", f"cannot write the lock file's folder {folder}")
    return Check("state database", "ok", f"{_safe_url(settings.state.url)} opened; lock {lock}")


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url


def run_doctor(settings: Settings, crm_factory: Callable[[Settings], Crm] | None = None,
               clock: Callable[[], datetime] | None = None) -> list[Check]:
    return Doctor(settings, clock=clock).run(crm_factory)
