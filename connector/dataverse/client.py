"""DataverseClient: every Web API call seqsync makes, over one retry policy."""

from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from connector.config import CrmConfig
from connector.dataverse import odata
from connector.dataverse.auth import MsalTokenProvider, TokenProvider, require_https
from connector.dataverse.batch import BatchOperation, BatchResult, build_batch, parse_batch
from connector.dataverse.errors import (
    BadResponse,
    CrmUnreachable,
    DataverseError,
    DeltaTokenExpired,
    DeltaTokenInvalid,
    DeltaTokenRejected,
    DuplicateKey,
    PreconditionFailed,
    error_for,
)
from connector.dataverse.retry import (
    MAX_DOP,
    Concurrency,
    Metrics,
    RetryableUnreachable,
    RetryPolicy,
)

log = logging.getLogger("seqsync.dataverse")

USER_AGENT = "seqsync/0.1"
BASE_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
    "User-Agent": USER_AGENT,
}
MAX_PAGE_SIZE = 5000
LOOKUP_TYPES = 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'
_API_PREFIX = re.compile(r"^.*?/api/data/v[0-9.]+/")


@dataclass(frozen=True)
class ChangePage:
    """One page of a change-tracking read. `delta_link` is set on the last page only."""

    upserts: list[dict[str, Any]]
    deleted_ids: list[str]
    delta_link: str | None
    full_read: bool


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_dns_failure(exc: requests.RequestException) -> bool:
    text = repr(exc)
    return "NameResolutionError" in text or "Name or service not known" in text


def _check_page_size(page_size: int) -> int:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE} (got {page_size})")
    return page_size


def _caller_key(logical_name: str, rows: list[dict[str, Any]]) -> str | None:
    """The primary key every row sets to a GUID, if any: such creates are idempotent."""
    for key in ("activityid", f"{logical_name}id"):
        try:
            for row in rows:
                odata.guid(row.get(key))
        except ValueError:
            continue
        return key
    return None


def _rejected_token(exc: DataverseError) -> DeltaTokenRejected | None:
    """The first reply to a saved delta link: which failures mean "drop the token".

    Besides the two known messages, any other plain 400 to a `$deltatoken` request counts as
    an invalid token (the reference's client rule): the full read that follows either works
    or fails with its own, clearer error."""
    if isinstance(exc, DeltaTokenRejected):
        return exc
    if type(exc) is DataverseError and exc.status == 400:
        return DeltaTokenInvalid(exc.status, exc.code, exc.message, exc.request_id)
    return None


def request_kind(method: str, url: str, headers: dict[str, str]) -> str:
    """A low-cardinality name for a request, for metrics: read, create, update, delete,
    batch, create_multiple, update_multiple, whoami or metadata."""
    path = urlsplit(url).path
    if path.endswith("/$batch"):
        return "batch"
    if path.endswith("CreateMultiple"):
        return "create_multiple"
    if path.endswith("UpdateMultiple"):
        return "update_multiple"
    if path.endswith("/WhoAmI"):
        return "whoami"
    if "/EntityDefinitions" in path:
        return "metadata"
    verb = method.upper()
    if verb == "GET":
        return "read"
    if verb == "DELETE":
        return "delete"
    if verb == "PATCH" and headers.get("If-None-Match") != "*":
        return "update"
    return "create"


def _targets(logical_name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `Targets` of a *Multiple action: copies typed with `@odata.type`."""
    odata_type = f"Microsoft.Dynamics.CRM.{odata.name(logical_name)}"
    return [{**row, "@odata.type": odata_type} for row in rows]


class DataverseClient:
    """A thread-safe Dataverse Web API client; one requests.Session per worker thread."""

    def __init__(
        self,
        crm: CrmConfig,
        tokens: TokenProvider | None = None,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_concurrency: int = MAX_DOP,
    ) -> None:
        require_https(crm.url, "url")
        self.crm = crm
        self.api_url = crm.api_url
        self._origin = urlsplit(self.api_url)
        self.tokens: TokenProvider = tokens if tokens is not None else MsalTokenProvider(crm)
        self.metrics = Metrics()
        self._concurrency = Concurrency(max_concurrency)
        self._policy = RetryPolicy(
            max_retries=crm.max_retries,
            max_seconds=crm.max_retry_seconds,
            metrics=self.metrics,
            concurrency=self._concurrency,
            sleep=sleep,
        )
        self._session_factory = session_factory or self._default_session
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        # Called before every Web API request: several workers on one state set it to wait
        # for their shared service-protection budget (sync.cooperation.SharedBudget).
        self.before_send: Callable[[], None] | None = None

    # -- plumbing -------------------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        """How many requests to run in parallel now (x-ms-dop-hint, halved on 429)."""
        return self._concurrency.value

    @staticmethod
    def _default_session() -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
        session.mount("https://", adapter)
        return session

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()

    def url(self, path: str, params: dict[str, str | None] | None = None) -> str:
        query = odata.query_string(params or {})
        base = f"{self.api_url}/{path.lstrip('/')}"
        return f"{base}?{query}" if query else base

    def _check_link(self, link: object, what: str) -> str:
        """Links from replies must point back at our API, or the token would go elsewhere."""
        if not isinstance(link, str):
            raise BadResponse(None, None, f"{what} is not a string")
        parts = urlsplit(link)
        same = (
            parts.scheme.lower() == "https"
            and parts.netloc.lower() == self._origin.netloc.lower()
            and parts.path.lower().startswith(self._origin.path.lower() + "/")
        )
        if not same:
            raise BadResponse(None, None, f"{what} points outside {self.api_url}: {link[:120]}")
        return link

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        body: bytes | None,
        headers: dict[str, str],
    ) -> tuple[requests.Response, str]:
        request_id = str(uuid.uuid4())
        all_headers = {**BASE_HEADERS, **headers}
        all_headers["Authorization"] = f"Bearer {token}"
        all_headers["x-ms-client-request-id"] = request_id
        kwargs: dict[str, Any] = {
            "data": body,
            "headers": all_headers,
            "timeout": (self.crm.connect_timeout, self.crm.read_timeout),
            "allow_redirects": False,
        }
        if self.crm.ca_bundle is not None:
            kwargs["verify"] = str(self.crm.ca_bundle)
        if self.before_send is not None:
            self.before_send()
        self.metrics.count_request()
        host = self._origin.netloc
        kind = request_kind(method, url, headers)
        try:
            try:
                resp = self.session().request(method, url, **kwargs)
            except requests.RequestException:
                self.metrics.count_reply(kind, "no_reply")
                raise
            self.metrics.count_reply(kind, str(resp.status_code))
            return resp, request_id
        except requests.exceptions.SSLError:
            raise CrmUnreachable(
                f"TLS verification failed for {host} (set [crm] ca_bundle?)", request_id
            ) from None
        except requests.exceptions.InvalidURL:
            raise CrmUnreachable(f"invalid CRM URL for {host}", request_id) from None
        except requests.exceptions.ConnectionError as exc:
            if _is_dns_failure(exc):
                raise CrmUnreachable(f"cannot resolve {host}", request_id) from None
            raise RetryableUnreachable(
                f"cannot reach CRM at {host}: {type(exc).__name__}", request_id
            ) from None
        except (requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryableUnreachable(
                f"no complete reply from CRM at {host}: {type(exc).__name__}", request_id
            ) from None

    def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        raw_statuses: frozenset[int],
    ) -> requests.Response:
        resp, request_id = self._send(method, url, self.tokens.get_token(), body, headers)
        if resp.status_code == 401:
            # Tokens can be revoked or rotated early: refresh exactly once, then give up.
            resp.close()
            token = self.tokens.get_token(force_refresh=True)
            resp, request_id = self._send(method, url, token, body, headers)
        if 200 <= resp.status_code < 300 or resp.status_code in raw_statuses:
            return resp
        reply_id = (
            resp.headers.get("x-ms-service-request-id") or resp.headers.get("REQ_ID") or request_id
        )
        raise error_for(
            resp.status_code, resp.text, reply_id, _retry_after(resp.headers.get("Retry-After"))
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        raw_statuses: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """One call under the retry policy. `url` is absolute; it must be on our API."""
        self._check_link(url, "request URL")
        extra = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            extra.setdefault("Content-Type", "application/json")
        what = f"{method} {urlsplit(url).path.removeprefix(self._origin.path)}"
        return self._policy.run(
            what, idempotent, lambda: self._attempt(method, url, body, extra, raw_statuses)
        )

    @staticmethod
    def _json(resp: requests.Response) -> dict[str, Any]:
        request_id = resp.request.headers.get("x-ms-client-request-id") if resp.request else None
        # Name the request (its path, never its query: that may hold user values).
        method = resp.request.method if resp.request else "GET"
        where = f"{method} {_API_PREFIX.sub('', urlsplit(resp.url or '').path)}"
        try:
            data = resp.json()
        except ValueError:
            kind = resp.headers.get("Content-Type", "no content type")
            raise BadResponse(
                resp.status_code, None, f"{where}: reply is not valid JSON ({kind}; truncated?)",
                request_id,
            ) from None
        if not isinstance(data, dict):
            raise BadResponse(resp.status_code, None, f"{where}: reply is not a JSON object",
                              request_id)
        if "error" in data:
            err = data["error"] if isinstance(data["error"], dict) else {}
            raise BadResponse(
                resp.status_code,
                str(err.get("code") or ""),
                f"{where}: error inside a success reply: {err.get('message', data['error'])}",
                request_id,
            )
        return data

    # -- reads ----------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """WhoAmI; also sets the concurrency hint from x-ms-dop-hint (5 when missing)."""
        return self.whoami_at()[0]

    def whoami_at(self) -> tuple[dict[str, Any], datetime | None]:
        """WhoAmI and the server's clock from its `Date` header (None when absent or bad)."""
        resp = self.request("GET", self.url("WhoAmI"), idempotent=True)
        data = self._json(resp)
        hint_text = resp.headers.get("x-ms-dop-hint", "")
        hint = int(hint_text) if hint_text.strip().isdigit() else None
        self._concurrency.set_hint(hint)
        try:
            server_time = email.utils.parsedate_to_datetime(resp.headers.get("Date", ""))
        except (TypeError, ValueError):
            server_time = None
        return data, server_time

    def entity_definition(self, logical_name: str, select: list[str]) -> dict[str, Any]:
        """`EntityDefinitions(LogicalName='x')` with the chosen properties (metadata)."""
        key = f"EntityDefinitions(LogicalName={odata.literal(logical_name)})"
        params = {"$select": odata.select_option(select)}
        return self._json(self.request("GET", self.url(key, params), idempotent=True))

    def get(self, entity_set: str, record_id: str, select: list[str]) -> dict[str, Any]:
        params = {"$select": odata.select_option(select)} if select else None
        resp = self.request(
            "GET", self.url(odata.entity_path(entity_set, record_id), params), idempotent=True
        )
        return self._json(resp)

    def iter_pages(
        self, url: str, page_size: int = MAX_PAGE_SIZE, prefer: tuple[str, ...] = ()
    ) -> Iterator[dict[str, Any]]:
        """Each page as returned, following @odata.nextLink verbatim with the same Prefer."""
        header = ",".join([*prefer, f"odata.maxpagesize={_check_page_size(page_size)}"])
        seen: set[str] = set()
        current: str | None = url
        while current is not None:
            seen.add(current)
            page = self._json(
                self.request("GET", current, idempotent=True, headers={"Prefer": header})
            )
            if not isinstance(page.get("value"), list):
                raise BadResponse(None, None, f"page has no 'value' list: {current[:120]}")
            link = page.get("@odata.nextLink")
            yield page
            if link is None:
                return
            link = self._check_link(link, "@odata.nextLink")
            if link in seen:
                raise BadResponse(None, None, f"@odata.nextLink loops back to {link[:120]}")
            current = link

    def query(
        self,
        entity_set: str,
        select: list[str],
        filter: str | None = None,
        *,
        orderby: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        key: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows one by one, a page at a time in memory. `key`: refuse rows missing it."""
        params = {"$select": odata.select_option(select), "$filter": filter, "$orderby": orderby}
        url = self.url(odata.name(entity_set), params)
        for page in self.iter_pages(url, page_size):
            for row in page["value"]:
                yield self._row(row, key, entity_set)

    def query_in(
        self,
        entity_set: str,
        prop: str,
        values: list[str],
        *,
        select: list[str],
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Rows whose `prop` is one of `values` (Microsoft.Dynamics.CRM.In), streamed."""
        if not values:
            return iter(())
        return self.query(entity_set, select, odata.in_filter(prop, values), page_size=page_size)

    @staticmethod
    def _row(row: object, key: str | None, entity_set: str) -> dict[str, Any]:
        if not isinstance(row, dict):
            raise BadResponse(None, None, f"{entity_set}: a row is not a JSON object")
        if key is not None and not isinstance(row.get(key), str):
            raise BadResponse(None, None, f"{entity_set}: a row has no primary key {key!r}")
        return row

    # -- change tracking ------------------------------------------------------------------

    def read_changes(
        self,
        entity_set: str,
        select: list[str],
        key: str,
        delta_link: str | None,
        page_size: int = MAX_PAGE_SIZE,
        on_expired: Literal["raise", "reread"] = "raise",
        lookup_types: bool = False,
    ) -> Iterator[ChangePage]:
        """Rows changed since `delta_link` (all rows when None), page by page.

        A token the CRM rejects (expired, or not valid here: a restored or copied environment)
        raises DeltaTokenExpired / DeltaTokenInvalid, or with on_expired="reread" restarts as
        a full read whose pages say full_read=True. `lookup_types` asks for each lookup's table
        (`<lookup>@Microsoft.Dynamics.CRM.lookuplogicalname`: a user's or a team's id?).
        """
        prefer = ("odata.track-changes", LOOKUP_TYPES) if lookup_types else (
            "odata.track-changes",)
        if on_expired not in ("raise", "reread"):
            raise ValueError(f"on_expired must be 'raise' or 'reread' (got {on_expired!r})")
        full_url = self.url(odata.name(entity_set), {"$select": odata.select_option(select)})
        if delta_link is None:
            yield from self._change_pages(full_url, entity_set, key, True, page_size, prefer)
            return
        link = self._check_link(delta_link, "saved delta link")
        pages = self._change_pages(link, entity_set, key, False, page_size, prefer)
        try:
            first = next(pages)
        except DataverseError as exc:
            rejected = _rejected_token(exc)
            if rejected is None:
                raise
            if on_expired == "raise":
                raise rejected from None
            why = "expired" if isinstance(rejected, DeltaTokenExpired) else (
                "is not valid here (environment restored or copied?)")
            log.warning(
                "change-tracking token for %s %s; re-reading the whole table: %s",
                entity_set, why, rejected.message,
                extra={"entity_set": entity_set, "full_read": True},
            )
            yield from self._change_pages(full_url, entity_set, key, True, page_size, prefer)
            return
        yield first
        yield from pages

    def _change_pages(
        self, url: str, entity_set: str, key: str, full_read: bool, page_size: int,
        prefer: tuple[str, ...],
    ) -> Iterator[ChangePage]:
        for page in self.iter_pages(url, page_size, prefer):
            upserts: list[dict[str, Any]] = []
            deleted: list[str] = []
            for raw in page["value"]:
                row = self._row(raw, None, entity_set)
                if row.get("reason") == "deleted" or str(row.get("@odata.context", "")).endswith(
                    "$deletedEntity"
                ):
                    try:
                        deleted.append(odata.guid(row.get("id")))
                    except ValueError:
                        raise BadResponse(
                            None, None, f"{entity_set}: a deleted row has no valid id"
                        ) from None
                else:
                    upserts.append(self._row(row, key, entity_set))
            delta = None
            if "@odata.nextLink" not in page:
                if "@odata.deltaLink" not in page:
                    raise BadResponse(
                        None, None,
                        f"{entity_set}: no @odata.deltaLink (is change tracking enabled?)",
                    )
                delta = self._check_link(page["@odata.deltaLink"], "@odata.deltaLink")
            yield ChangePage(upserts, deleted, delta, full_read)

    def instantiate_template(
        self, action: str, template_id: str, object_type: str, object_id: str
    ) -> dict[str, Any]:
        """The email a template makes for one record: `InstantiateTemplate`, which fills the
        template's placeholders and saves nothing (so it is safe to retry)."""
        resp = self.request(
            "POST", self.url(odata.name(action)), idempotent=True,
            json_body={"TemplateId": template_id, "ObjectType": object_type,
                       "ObjectId": object_id},
        )
        value = self._json(resp).get("value")
        if not isinstance(value, list) or not value or not isinstance(value[0], dict):
            raise BadResponse(resp.status_code, None, f"{action}: reply has no email in 'value'")
        return value[0]

    # -- writes ---------------------------------------------------------------------------

    def upsert_create(self, entity_set: str, record_id: str, body: dict[str, Any]) -> None:
        """Create with a caller-chosen id; DuplicateKey when it already exists."""
        url = self.url(odata.entity_path(entity_set, record_id))
        try:
            self.request("PATCH", url, idempotent=True, json_body=body,
                         headers={"If-None-Match": "*"})
        except PreconditionFailed as exc:
            raise DuplicateKey(exc.status, exc.code, exc.message, exc.request_id) from None

    def update(
        self, entity_set: str, record_id: str, body: dict[str, Any], if_match: str | None = "*"
    ) -> None:
        """PATCH an existing row (If-Match: * refuses to create; None upserts)."""
        headers = {"If-Match": if_match} if if_match else {}
        url = self.url(odata.entity_path(entity_set, record_id))
        self.request("PATCH", url, idempotent=True, json_body=body, headers=headers)

    def delete(self, entity_set: str, record_id: str) -> None:
        url = self.url(odata.entity_path(entity_set, record_id))
        self.request("DELETE", url, idempotent=True)

    def create_multiple(
        self,
        entity_set: str,
        logical_name: str,
        rows: list[dict[str, Any]],
        *,
        key: str | None = None,
    ) -> list[str]:
        """CreateMultiple. When every row carries its own id in `key` (by default
        `activityid` or `<logical_name>id`, when present) the call is retried safely."""
        if not rows:
            return []
        if key is not None:
            for row in rows:
                odata.guid(row.get(key))
        else:
            key = _caller_key(logical_name, rows)
        targets = _targets(logical_name, rows)
        url = self.url(f"{odata.name(entity_set)}/Microsoft.Dynamics.CRM.CreateMultiple")
        resp = self.request("POST", url, idempotent=key is not None,
                            json_body={"Targets": targets})
        ids = self._json(resp).get("Ids")
        if not isinstance(ids, list) or len(ids) != len(rows):
            raise BadResponse(resp.status_code, None,
                              f"CreateMultiple on {entity_set}: reply has no matching 'Ids'")
        try:
            return [odata.guid(i) for i in ids]
        except ValueError:
            raise BadResponse(resp.status_code, None,
                              f"CreateMultiple on {entity_set}: an id is not a GUID") from None

    def update_multiple(
        self, entity_set: str, logical_name: str, rows: list[dict[str, Any]], key: str
    ) -> None:
        """UpdateMultiple: each row carries its primary key."""
        if not rows:
            return
        for row in rows:
            odata.guid(row.get(key))
        targets = _targets(logical_name, rows)
        url = self.url(f"{odata.name(entity_set)}/Microsoft.Dynamics.CRM.UpdateMultiple")
        self.request("POST", url, idempotent=True, json_body={"Targets": targets})

    def execute_batch(
        self,
        operations: list[BatchOperation],
        continue_on_error: bool = False,
        atomic: bool = False,
    ) -> list[BatchResult]:
        """Results in order. Without continue_on_error the CRM stops at the first failure, so
        fewer results than operations may come back (the last one carries the error)."""
        content_type, body = build_batch(operations, self.api_url, atomic=atomic)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        resp = self.request(
            "POST",
            self.url("$batch"),
            idempotent=all(op.is_idempotent for op in operations),
            body=body,
            headers=headers,
            raw_statuses=frozenset({400}),
        )
        reply_type = resp.headers.get("Content-Type", "")
        request_id = resp.request.headers.get("x-ms-client-request-id") if resp.request else None
        if resp.status_code == 400 and not reply_type.lower().startswith("multipart/"):
            raise error_for(400, resp.text, request_id)
        results = parse_batch(reply_type, resp.content, request_id)
        # Callers pair results with operations: a reply with parts missing or extra must not
        # be paired up silently. (Without continue-on-error a short reply is normal.)
        if len(results) > len(operations) or (
            continue_on_error and len(results) != len(operations)
        ):
            raise BadResponse(
                resp.status_code, None,
                f"$batch reply has {len(results)} parts for {len(operations)} operations",
                request_id,
            )
        return results
