"""Reading collections: `$select`, `$filter`, `$orderby`, `$top`, `$count`, paging, delta."""

from __future__ import annotations

import base64
import heapq
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from . import apply, errors, fetchxml, sqlquery
from .errors import ApiError, bad_request
from .expand import parse_expand, parse_select, represent
from .messages import ApiRequest
from .odata_filter import compile_filter
from .schema import ACTIVITY_SETS, POINTER_DEF, TableDef
from .service import Dataverse
from .sortkey import SortKey
from .store import Row

MAX_PAGE = 5000
COUNT_LIMIT = 5000
_KNOWN_OPTIONS = {
    "$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken",
    "$deltatoken", "$skip", "$apply", "$format",
}
# Query parameters Dataverse knows that the mock refuses loudly instead of ignoring.
_NOT_IMPLEMENTED = {
    "savedQuery": "saved queries (savedQuery)", "userQuery": "user queries (userQuery)",
    "$search": "$search (Dataverse search)", "$compute": "$compute", "$levels": "$levels",
}
_TRACKING_REFUSED = ("$filter", "$orderby", "$expand", "$top")


def encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decode_token(text: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        return data
    except ValueError:
        raise bad_request("The $skiptoken is invalid; follow @odata.nextLink unchanged.") from None


class Source:
    """A table or the activitypointer view, iterated in primary-key order."""

    def __init__(self, dv: Dataverse, entity_set: str) -> None:
        self.dv = dv
        self.entity_set = entity_set
        if entity_set == POINTER_DEF.entity_set:
            self.definition: TableDef = POINTER_DEF
            self.columns = list(POINTER_DEF.columns)
        else:
            table = dv.table(entity_set)
            self.definition = table.definition
            self.columns = table.columns

    def iter_from(self, after: str | None) -> Iterator[Row]:
        if self.entity_set != POINTER_DEF.entity_set:
            return self.dv.store.tables[self.entity_set].iter_from(after)
        tables = [self.dv.store.tables[s] for s in ACTIVITY_SETS]
        return heapq.merge(
            *(t.iter_from(after) for t in tables), key=lambda r: str(r["activityid"])
        )


class DeltaTokens:
    """Issues change-tracking tokens (`<version>!<MM/dd/yyyy HH:mm:ss>`) and checks their age."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.ttl: float | None = None
        self.issued: dict[str, float] = {}

    def issue(self, version: int) -> str:
        stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%m/%d/%Y %H:%M:%S")
        token = f"{version}!{stamp}"
        self.issued.setdefault(token, time.monotonic())
        return token

    def check(self, token: str, current_version: int) -> int:
        """The version a token stands for. Only tokens this mock issued since its last reset
        are valid: one from before `/_mock/reset` or from another mock is refused the way
        Dataverse refuses a token it cannot read."""
        head, sep, _ = token.partition("!")
        issued = self.issued.get(token)
        if issued is None or not sep or not head.isdigit() or int(head) > current_version:
            raise bad_request(f"The delta token '{token}' is not valid.", errors.QUERY_INVALID)
        if self.ttl is not None and time.monotonic() - issued > self.ttl:
            raise ApiError(
                400, errors.DELTA_EXPIRED,
                "Version stamp associated with the client has expired. "
                "Please perform a full sync.",
            )
        return int(head)

    def forget(self) -> None:
        self.issued.clear()


def _norm(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class Collection:
    """One GET over a collection, producing a JSON page."""

    def __init__(self, dv: Dataverse, tokens: DeltaTokens, api_url: str, entity_set: str) -> None:
        self.dv = dv
        self.tokens = tokens
        self.api_url = api_url
        self.source = Source(dv, entity_set)

    def run(self, req: ApiRequest) -> tuple[dict[str, object], dict[str, str]]:
        for key, _ in req.query:
            if key in _NOT_IMPLEMENTED:
                raise errors.not_implemented(_NOT_IMPLEMENTED[key])
            if key.startswith("$") and key not in _KNOWN_OPTIONS:
                raise bad_request(f"The query parameter {key} is not supported.")
        for key, _ in req.query:
            if key.lower() in ("fetchxml", "sql") and key not in ("fetchXml", "sql"):
                raise bad_request(f"The query parameter {key} is not supported; "
                                  "Dataverse's names are fetchXml and sql.")
        language = [k for k in ("fetchXml", "sql", "$apply") if req.option(k) is not None]
        if language:
            return self._language(req, language), {}
        if req.option("$skip") is not None:
            raise bad_request("The query parameter $skip is not supported.")
        prefer = req.prefer()
        applied: list[str] = []
        page_size = MAX_PAGE
        if "odata.maxpagesize" in prefer:
            try:
                page_size = max(1, min(MAX_PAGE, int(prefer["odata.maxpagesize"])))
            except ValueError:
                raise bad_request("odata.maxpagesize must be an integer.") from None
            applied.append(f"odata.maxpagesize={page_size}")
        delta = req.option("$deltatoken")
        tracking = "odata.track-changes" in prefer or delta is not None
        if tracking:
            for name in _TRACKING_REFUSED:
                if req.option(name) is not None:
                    raise bad_request(
                        f'The "{name}" query parameter isn\'t supported when Change Tracking '
                        "is enabled."
                    )
            if self.source.entity_set == POINTER_DEF.entity_set:
                raise bad_request("Change tracking is not enabled for activitypointer.")
            applied.insert(0, "odata.track-changes")
        definition = self.source.definition
        select = parse_select(req.option("$select"), self.source.columns, definition.logical)
        annotations = prefer.get("odata.include-annotations")
        if annotations:
            applied.append(f'odata.include-annotations="{annotations}"')
        headers = {"Preference-Applied": ",".join(applied)} if applied else {}
        with self.dv.store.lock:
            if delta is not None:
                return self._delta(req, delta, select, page_size, annotations), headers
            return self._page(req, select, page_size, tracking, annotations), headers

    def _language(self, req: ApiRequest, language: list[str]) -> dict[str, object]:
        """FetchXML, SQL or $apply: each replaces the OData query options, so none may mix."""
        name = language[0]
        others = [k for k, _ in req.query if k.startswith("$") and k not in (name, "$format")]
        if len(language) > 1 or others:
            raise bad_request(
                f"The query parameter {name} cannot be combined with "
                f"{', '.join(language[1:] + others)}."
            )
        prefer = req.prefer()
        if "odata.track-changes" in prefer:
            raise bad_request(f"Change tracking is not supported with {name}.")
        entity_set = self.source.entity_set
        if entity_set not in self.dv.store.tables:
            raise errors.not_implemented(f"{name} over the {entity_set} view")
        text = req.option(name) or ""
        annotations = prefer.get("odata.include-annotations")
        with self.dv.store.lock:
            if name == "fetchXml":
                return fetchxml.run(self.dv, self.api_url, entity_set, text, prefer,
                                    self.dv.app_user_id)
            if name == "sql":
                return sqlquery.run(self.dv, self.api_url, entity_set, text,
                                    self.dv.app_user_id, annotations)
            return apply.run(self.dv, self.api_url, entity_set, text)

    def _context(self, select: list[str] | None, suffix: str = "") -> str:
        cols = f"({','.join(select)})" if select else ""
        return f"{self.api_url}/$metadata#{self.source.entity_set}{cols}{suffix}"

    def _link(self, req: ApiRequest, **extra: str) -> str:
        keep = [(k, v) for k, v in req.query if k not in ("$skiptoken", "$deltatoken")]
        keep += list(extra.items())
        query = "&".join(f"{k}={quote(v, safe=',()=$@')}" for k, v in keep)
        return f"{self.api_url}/{self.source.entity_set}?{query}"

    def _page(
        self, req: ApiRequest, select: list[str] | None, page_size: int, tracking: bool,
        annotations: str | None,
    ) -> dict[str, object]:
        src = self.source
        definition = src.definition
        pk = definition.primary_key
        filt = req.option("$filter")
        pred = compile_filter(filt, src.columns, definition.logical,
                              user_id=self.dv.app_user_id, now=self.dv.now()) if filt else None
        expand = parse_expand(self.dv, req.option("$expand"), src.definition)
        order = self._orderby(req.option("$orderby"))
        skip = req.option("$skiptoken")
        state = decode_token(skip) if skip else {}
        top_text = req.option("$top")
        remaining: int | None = state.get("r")
        if top_text is not None and "odata.maxpagesize" not in req.prefer():
            try:
                top = int(top_text)
                if top < 0:
                    raise ValueError
            except ValueError:
                raise bad_request(f"Invalid value '{top_text}' for $top.") from None
            if not skip:
                remaining = top
        limit = page_size if remaining is None else min(page_size, remaining)
        since = state.get("t", self.dv.store.version) if tracking else None

        rows: list[Row] = []
        more = False
        if order:
            matched = [r for r in src.iter_from(None) if pred is None or pred(r)]
            desc = (*tuple(d for _, d in order), False)
            keyed = sorted(
                matched,
                key=lambda r: SortKey(
                    (*tuple(_norm(r.get(c)) for c, _ in order), r[pk]), desc
                ),
            )
            if "o" in state:
                last = SortKey(tuple(state["o"]), desc)
                keyed = [r for r in keyed if last < SortKey(
                    (*tuple(_norm(r.get(c)) for c, _ in order), r[pk]), desc)]
            rows = keyed[:limit]
            more = len(keyed) > limit
        else:
            for row in src.iter_from(state.get("k")):
                if pred is None or pred(row):
                    if len(rows) == limit:
                        more = True
                        break
                    rows.append(row)
        out: dict[str, object] = {"@odata.context": self._context(select)}
        if req.option("$count") == "true":
            total = sum(1 for r in src.iter_from(None) if pred is None or pred(r))
            out["@odata.count"] = min(total, COUNT_LIMIT)
            if total > COUNT_LIMIT:
                out["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = True
        out["value"] = [
            represent(self.dv, definition, r, select, annotations=annotations, expand=expand,
                      columns=src.columns, api_url=self.api_url)
            for r in rows
        ]
        if remaining is not None:
            remaining -= len(rows)
            more = more and remaining > 0
        if more and rows:
            nxt: dict[str, Any] = {"k": rows[-1][pk]}
            if order:
                last_row = rows[-1]
                nxt["o"] = [_norm(last_row.get(c)) for c, _ in order] + [last_row[pk]]
            if remaining is not None:
                nxt["r"] = remaining
            if since is not None:
                nxt["t"] = since
            out["@odata.nextLink"] = self._link(req, **{"$skiptoken": encode_token(nxt)})
        elif tracking:
            assert since is not None
            out["@odata.deltaLink"] = self._link(req, **{"$deltatoken": self.tokens.issue(since)})
        return out

    def _orderby(self, text: str | None) -> list[tuple[str, bool]]:
        if not text:
            return []
        out = []
        for part in text.split(","):
            bits = part.split()
            if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1] not in ("asc", "desc")):
                raise bad_request(f"Invalid $orderby expression '{text}'.")
            if bits[0] not in self.source.columns:
                raise bad_request(
                    f"Could not find a property named '{bits[0]}' on type "
                    f"'Microsoft.Dynamics.CRM.{self.source.definition.logical}'."
                )
            out.append((bits[0], len(bits) == 2 and bits[1] == "desc"))
        return out

    def _delta(
        self, req: ApiRequest, token: str, select: list[str] | None, page_size: int,
        annotations: str | None,
    ) -> dict[str, object]:
        table = self.dv.store.tables[self.source.entity_set]
        since = self.tokens.check(unquote(token), self.dv.store.version)
        skip = req.option("$skiptoken")
        state = decode_token(skip) if skip else {}
        upto = int(state.get("u", self.dv.store.version))
        phase = state.get("p", "c")
        cursor = int(state.get("v", since))
        items: list[dict[str, object]] = []
        last_version = cursor
        if phase == "c":
            for row in table.changes_since(cursor, upto):
                if len(items) == page_size:
                    break
                items.append(represent(self.dv, table.definition, row, select,
                                       annotations=annotations, columns=table.columns))
                last_version = int(row["versionnumber"])  # type: ignore[arg-type]
            else:
                phase, last_version = "d", since
        more = False
        if phase == "d" and len(items) < page_size:
            for version, row_id in table.deletions_since(last_version, upto):
                if len(items) == page_size:
                    more = True
                    break
                items.append({
                    "@odata.context": f"{self.api_url}/$metadata#{table.definition.entity_set}"
                    "/$deletedEntity",
                    "id": row_id,
                    "reason": "deleted",
                })
                last_version = version
        elif phase == "c" or len(items) == page_size:
            more = True
        out: dict[str, object] = {"@odata.context": self._context(select, "/$delta")}
        out["value"] = items
        if more:
            nxt = {"u": upto, "p": phase, "v": last_version}
            out["@odata.nextLink"] = self._link(
                req, **{"$deltatoken": token, "$skiptoken": encode_token(nxt)}
            )
        else:
            out["@odata.deltaLink"] = self._link(req, **{"$deltatoken": self.tokens.issue(upto)})
        return out
