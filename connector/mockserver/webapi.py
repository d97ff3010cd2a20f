"""The Web API below `/api/data/v9.2/`: routing, reads, writes, actions and metadata."""

from __future__ import annotations

import re
from collections.abc import Callable

from . import actions, csdl, errors, keys, navigation
from .errors import ApiError, bad_request
from .expand import parse_expand, parse_select, represent
from .files import Files
from .messages import ApiRequest, ApiResponse
from .metadata import Metadata
from .query import Collection, DeltaTokens, Source
from .schema import ACTIVITY_SETS, BULK_SETS, BY_LOGICAL, BY_SET, POINTER_SET
from .service import LOOKUP_NOTE, Dataverse, RefResolver, parse_guid

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_$][\w.$]*)(?:\((?P<key>[^)]*)\))?(?:/(?P<rest>.*))?$")
_GUID_KEY = re.compile(r"^(?:\w+=)?(?P<id>[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$")
_ACTIONS = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")
# Dataverse messages clients send that the mock knows and refuses loudly (501), rather than
# answering 404 as for a name Dataverse does not have.
_REFUSED_MESSAGES = frozenset({
    "CreateEntities", "UpdateEntity", "DeleteEntity", "CreateAttribute", "UpdateAttribute",
    "DeleteAttribute", "CreateEntityKey", "DeleteEntityKey", "CreateOneToMany",
    "CreateManyToMany", "PublishXml", "PublishAllXml", "SendEmailFromTemplate", "SendTemplate",
    "Merge", "GrantAccess", "RevokeAccess", "ExecuteWorkflow", "CalculateRollupField",
    "RetrieveMetadataChanges", "InitializeFrom", "Book", "Reschedule", "DeleteMultiple",
    "ExportToExcel", "SearchQuery", "Search", "Suggest", "Autocomplete",
})


def route_key(method: str, path: str) -> str:
    """`PATCH tasks(id)`, `POST emails/CreateMultiple`, `GET WhoAmI` for the stats."""
    m = _SEGMENT.match(path.strip("/"))
    if m is None:
        return f"{method} {path}"
    name = m.group("name")
    key = "(id)" if m.group("key") is not None and name != "WhoAmI" else ""
    rest = m.group("rest") or ""
    if rest:
        action = rest.split("/")[0].removeprefix("Microsoft.Dynamics.CRM.")
        rest = "/" + action
    return f"{method} {name}{key}{rest}"


class WebApi:
    """Answers one Web API request (also used for each operation inside `$batch`)."""

    def __init__(self, dv: Dataverse, tokens: DeltaTokens, api_url: str) -> None:
        self.dv = dv
        self.tokens = tokens
        self.api_url = api_url
        self.metadata = Metadata(dv)
        self.actions = actions.Actions(dv, api_url)
        self.files = Files(dv, api_url)
        self.batch_handler: Callable[[ApiRequest], ApiResponse] | None = None

    def handle(self, req: ApiRequest, resolve_ref: RefResolver | None = None) -> ApiResponse:
        try:
            return self._dispatch(req, resolve_ref)
        except ApiError as exc:
            return ApiResponse.json(exc.status, exc.body(), exc.headers)

    def _dispatch(self, req: ApiRequest, resolve_ref: RefResolver | None) -> ApiResponse:
        path = req.path.strip("/")
        if path.startswith("$") and resolve_ref is not None and path[1:2].isdigit():
            head, _, tail = path.partition("/")
            resolved = resolve_ref(head)
            if resolved is None:
                raise bad_request(
                    f"Content-ID Reference: '{head}' does not exist in the batch context.",
                    errors.BATCH_INVALID,
                )
            path = resolved + ("/" + tail if tail else "")
        if path == "" and req.method == "GET":
            return ApiResponse.json(200, csdl.service_document(self.api_url))
        if path == "$metadata" and req.method == "GET":
            with self.dv.store.lock:
                text = csdl.metadata_document(self.dv.store.tables)
            return ApiResponse(200, {"Content-Type": "application/xml"}, text.encode())
        if path == "$batch":
            if req.method != "POST" or self.batch_handler is None:
                raise ApiError(405, "", "The $batch endpoint only accepts POST.")
            return self.batch_handler(req)
        m = _SEGMENT.match(path)
        if m is None:
            raise ApiError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        name, key, rest = m.group("name"), m.group("key"), m.group("rest")
        if name in ("WhoAmI", "Microsoft.Dynamics.CRM.WhoAmI"):
            return self._who_am_i(req)
        if name == "EntityDefinitions":
            return self.metadata.entity_definitions(req, key, rest, self.api_url)
        if name == "RelationshipDefinitions":
            return self.metadata.relationship_definitions(req, key, rest, self.api_url)
        if name == "GlobalOptionSetDefinitions":
            raise errors.not_implemented("GlobalOptionSetDefinitions")
        if name == "sdkmessagefilters":
            return self.metadata.message_filters(req)
        if name.removeprefix("Microsoft.Dynamics.CRM.") in _REFUSED_MESSAGES:
            raise errors.not_implemented(f"the {name.split('.')[-1]} message")
        if name.removeprefix("Microsoft.Dynamics.CRM.") in actions.UNBOUND:
            return self.actions.unbound(req, name.removeprefix("Microsoft.Dynamics.CRM."), key)
        if name not in BY_SET and name != POINTER_SET:
            raise ApiError(404, "0x8006088a", f"Resource not found for the segment '{name}'.")
        if rest and key is None:
            action = rest.removeprefix("Microsoft.Dynamics.CRM.")
            if action == "$count" and req.method == "GET":
                with self.dv.store.lock:
                    total = sum(1 for _ in Source(self.dv, name).iter_from(None))
                return ApiResponse(200, {"Content-Type": "text/plain"}, str(total).encode())
            if action in _ACTIONS and req.method == "POST":
                return self._bulk(req, name, action, resolve_ref)
            raise ApiError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
        if name == POINTER_SET and req.method != "GET":
            raise ApiError(405, "", "activitypointers is a read-only view in the mock.")
        if key is None:
            if req.method == "GET":
                payload, headers = Collection(self.dv, self.tokens, self.api_url, name).run(req)
                return ApiResponse.json(200, payload, headers)
            if req.method == "POST":
                return self._create(req, name, resolve_ref)
            raise ApiError(405, "", f"{req.method} is not allowed on a collection.")
        row_id = self._key(name, key)
        if row_id is None:  # an alternate key that matches no row
            table = self.dv.table(name)
            if req.method == "PATCH" and not rest:
                return self._upsert_by_key(req, name, key, resolve_ref)
            raise keys.not_found(table)
        if rest and rest.removeprefix("Microsoft.Dynamics.CRM.") in actions.BOUND.get(name, ()):
            if not rest.startswith("Microsoft.Dynamics.CRM."):
                raise bad_request("Request message has unresolved parameters.",
                                  errors.INVALID_ARGUMENT)
            return self.actions.bound(req, name, row_id, rest.split(".")[-1])
        if rest and name in BY_SET and self.files.column_of(self.dv.table(name), rest):
            return self.files.handle(req, name, row_id, rest)
        if rest:
            return self._related(req, name, row_id, rest)
        if req.method == "GET":
            return self._get_one(req, name, row_id)
        if req.method == "PATCH":
            return self._patch(req, name, row_id, resolve_ref)
        if req.method == "DELETE":
            return self._delete(req, name, row_id)
        raise ApiError(405, "", f"{req.method} is not allowed on a record.")

    # -- helpers -----------------------------------------------------------------------------

    def _key(self, entity_set: str, key: str) -> str | None:
        """The row id a key segment names; None for an alternate key without a match."""
        if entity_set == POINTER_SET:
            m = _GUID_KEY.match(key.strip())
            if m is None:
                raise bad_request("activitypointers is addressed by its activityid only.")
            return m.group("id").lower()
        with self.dv.store.lock:
            return keys.resolve(self.dv.table(entity_set), key)[0]

    def _upsert_by_key(
        self, req: ApiRequest, entity_set: str, key: str, resolve_ref: RefResolver | None
    ) -> ApiResponse:
        """PATCH by alternate key of a missing row creates it with the URL's key values."""
        table = self.dv.table(entity_set)
        if req.header("if-match"):
            raise keys.not_found(table)
        with self.dv.store.transaction():
            row_id, values = keys.resolve(table, key)
            if row_id is not None:  # created meanwhile: an update after all
                return self._patch(req, entity_set, row_id, resolve_ref)
            body = {k: v for k, v in req.json().items() if k not in values}
            row = self.dv.create(entity_set, {**body, **values}, resolve_ref)
            resp = self._written(req, entity_set, row, created=True)
        resp.headers["OData-EntityId"] = f"{self.api_url}/{entity_set}({key})"
        return resp

    def _entity_url(self, entity_set: str, row_id: str) -> str:
        return f"{self.api_url}/{entity_set}({row_id})"

    def _written(
        self, req: ApiRequest, entity_set: str, row: dict[str, object], created: bool
    ) -> ApiResponse:
        definition = self.dv.table(entity_set).definition
        row_id = str(row[definition.primary_key])
        url = self._entity_url(entity_set, row_id)
        headers = {"OData-EntityId": url, "Location": url, "ETag": f'W/"{row["versionnumber"]}"'}
        if "return" in req.prefer() and req.prefer()["return"] == "representation":
            table = self.dv.table(entity_set)
            select = parse_select(req.option("$select"), table.columns, definition.logical)
            payload = represent(self.dv, definition, row, select, columns=table.columns)
            payload = {"@odata.context": f"{self.api_url}/$metadata#{entity_set}/$entity",
                       **payload}
            return ApiResponse.json(201 if created else 200, payload, headers)
        return ApiResponse(204, headers)

    @staticmethod
    def _etag_matches(condition: str, row: dict[str, object]) -> bool:
        tags = [t.strip() for t in condition.split(",")]
        current = f'W/"{row["versionnumber"]}"'
        return "*" in tags or current in tags or current[2:] in tags

    # -- reads -------------------------------------------------------------------------------

    def _who_am_i(self, req: ApiRequest) -> ApiResponse:
        if req.method != "GET":
            raise ApiError(405, "", "WhoAmI is a function; use GET.")
        payload = {
            "@odata.context": f"{self.api_url}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": self.dv.business_unit_id,
            "UserId": self.dv.app_user_id,
            "OrganizationId": self.dv.organization_id,
        }
        return ApiResponse.json(200, payload)

    def _get_one(self, req: ApiRequest, entity_set: str, row_id: str) -> ApiResponse:
        source = Source(self.dv, entity_set)
        definition = source.definition
        select = parse_select(req.option("$select"), source.columns, definition.logical)
        expand = parse_expand(self.dv, req.option("$expand"), definition)
        with self.dv.store.lock:
            row = self._find(source, row_id)
            if row is None:
                raise errors.not_found(definition.logical, row_id)
            etag = f'W/"{row["versionnumber"]}"'
            prefer = req.prefer()
            condition = req.header("if-none-match")
            if condition and condition != "null" and not expand and (
                "odata.include-annotations" not in prefer
            ) and etag in [t.strip() for t in condition.split(",")]:
                return ApiResponse(304, {"ETag": etag})
            payload = represent(
                self.dv, definition, row, select,
                annotations=prefer.get("odata.include-annotations"), expand=expand,
                columns=source.columns, api_url=self.api_url,
            )
        cols = f"({','.join(select)})" if select else ""
        payload = {"@odata.context": f"{self.api_url}/$metadata#{entity_set}{cols}/$entity",
                   **payload}
        headers = {"ETag": etag}
        if prefer.get("odata.include-annotations"):
            headers["Preference-Applied"] = (
                f'odata.include-annotations="{prefer["odata.include-annotations"]}"')
        return ApiResponse.json(200, payload, headers)

    def _find(self, source: Source, row_id: str) -> dict[str, object] | None:
        if source.entity_set != POINTER_SET:
            return self.dv.store.tables[source.entity_set].rows.get(row_id)
        for entity_set in ACTIVITY_SETS:
            row = self.dv.store.tables[entity_set].rows.get(row_id)
            if row is not None:
                return row
        return None

    def _related(self, req: ApiRequest, entity_set: str, row_id: str, name: str) -> ApiResponse:
        """`leads(<id>)/Lead_Tasks` (a collection) or `tasks(<id>)/regardingobjectid_lead_task`."""
        parent = BY_SET.get(entity_set)
        nav = navigation.find(parent, name) if parent is not None else None
        if req.method != "GET" or parent is None or nav is None:
            raise ApiError(404, errors.RESOURCE_NOT_FOUND,
                           f"Resource not found for the segment '{name}'.")
        with self.dv.store.lock:
            row = self.dv.table(entity_set).rows.get(row_id)
            if row is None:
                raise errors.not_found(parent.logical, row_id)
            if not nav.collection:
                target_id = row.get(nav.column)
                logical = row.get(nav.column + LOOKUP_NOTE) or (nav.targets or (None,))[0]
                target = BY_LOGICAL.get(str(logical))
                if target_id is None or target is None:
                    return ApiResponse(204)
                inner = ApiRequest(req.method, f"{target.entity_set}({target_id})", req.query,
                                   req.headers, req.body, req.caller)
                return self._get_one(inner, target.entity_set, str(target_id))
        assert nav.target_set is not None
        condition = f"{nav.column} eq {row_id}"
        user_filter = req.option("$filter")
        combined = f"({condition}) and ({user_filter})" if user_filter else condition
        query = [(k, v) for k, v in req.query if k != "$filter"] + [("$filter", combined)]
        inner = ApiRequest(req.method, nav.target_set, query, req.headers, req.body, req.caller)
        payload, headers = Collection(self.dv, self.tokens, self.api_url, nav.target_set).run(
            inner)
        return ApiResponse.json(200, payload, headers)

    # -- writes ------------------------------------------------------------------------------

    def _create(
        self, req: ApiRequest, entity_set: str, resolve_ref: RefResolver | None
    ) -> ApiResponse:
        body = req.json()
        with self.dv.store.transaction():  # the duplicate-key check and insert are one step
            row = self.dv.create(entity_set, body, resolve_ref)
            return self._written(req, entity_set, row, created=True)

    def _patch(
        self, req: ApiRequest, entity_set: str, row_id: str, resolve_ref: RefResolver | None
    ) -> ApiResponse:
        body = req.json()
        if_match = req.header("if-match")
        if_none = req.header("if-none-match")
        if if_none == "null":
            if_none = ""
        table = self.dv.table(entity_set)
        logical = table.definition.logical
        with self.dv.store.transaction():
            existing = table.rows.get(row_id)
            if existing is None:
                if if_match:
                    raise errors.not_found(logical, row_id)
                row = self.dv.create(entity_set, body, resolve_ref, row_id=row_id)
                return self._written(req, entity_set, row, created=True)
            if if_none == "*":
                raise ApiError(
                    412, errors.DUPLICATE_KEY, "A record with matching key values already exists."
                )
            if if_match and not self._etag_matches(if_match, existing):
                raise ApiError(
                    412, errors.VERSION_MISMATCH,
                    "The version of the existing record doesn't match the RowVersion property "
                    "provided.",
                )
            row = self.dv.update(entity_set, row_id, body, resolve_ref)
            return self._written(req, entity_set, row, created=False)

    def _delete(self, req: ApiRequest, entity_set: str, row_id: str) -> ApiResponse:
        table = self.dv.table(entity_set)
        with self.dv.store.transaction():
            existing = table.rows.get(row_id)
            if existing is None:
                raise errors.not_found(table.definition.logical, row_id)
            if_match = req.header("if-match")
            if if_match and not self._etag_matches(if_match, existing):
                raise ApiError(
                    412, errors.VERSION_MISMATCH,
                    "The version of the existing record doesn't match the RowVersion property "
                    "provided.",
                )
            self.dv.delete(entity_set, row_id)
        return ApiResponse(204)

    def _bulk(
        self, req: ApiRequest, entity_set: str, action: str, resolve_ref: RefResolver | None
    ) -> ApiResponse:
        if entity_set not in BULK_SETS:
            raise bad_request(
                f"The {action} message is not supported for entity set '{entity_set}'."
            )
        definition = self.dv.table(entity_set).definition
        targets = req.json().get("Targets")
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise bad_request(f"{action} needs a 'Targets' array of objects.", errors.VALIDATION)
        expected = f"Microsoft.Dynamics.CRM.{definition.logical}"
        ids: list[str] = []
        seen: set[str] = set()
        pk = definition.primary_key
        with self.dv.store.transaction():
            for index, target in enumerate(targets):
                kind = str(target.get("@odata.type", "")).lstrip("#")
                if kind != expected:
                    raise bad_request(
                        f"Targets[{index}]: '@odata.type' must be '{expected}' (got '{kind}').",
                        errors.VALIDATION,
                    )
                if action == "CreateMultiple":
                    ids.append(str(self.dv.create(entity_set, target, resolve_ref)[pk]))
                    continue
                row_id = target.get(pk)
                if row_id is None and action == "UpsertMultiple" and "@odata.id" in target:
                    m = _SEGMENT.match(str(target["@odata.id"]).rsplit("/", 1)[-1])
                    key_text = m.group("key") if m else None
                    found, values = (keys.resolve(self.dv.table(entity_set), key_text)
                                     if key_text else (None, {}))
                    if found is None and values:  # a new row named by its alternate key
                        body = {k: v for k, v in target.items()
                                if k != "@odata.id" and k not in values}
                        self.dv.create(entity_set, {**body, **values}, resolve_ref)
                        continue
                    row_id = found
                if row_id is None:
                    raise bad_request(
                        f"Targets[{index}]: the primary key '{pk}' is required for {action}.",
                        errors.VALIDATION,
                    )
                row_id = parse_guid(str(row_id).split("=")[-1], pk)
                if row_id in seen:
                    if action == "UpsertMultiple":
                        raise bad_request(
                            f"Targets[{index}]: duplicate record {row_id} in UpsertMultiple.",
                            errors.VALIDATION,
                        )
                    continue  # UpdateMultiple applies the first and ignores repeats
                seen.add(row_id)
                body = {k: v for k, v in target.items() if k != "@odata.id"}
                if action == "UpsertMultiple" and row_id not in self.dv.table(entity_set).rows:
                    body.pop(pk, None)
                    self.dv.create(entity_set, body, resolve_ref, row_id=row_id)
                else:
                    self.dv.update(entity_set, row_id, body, resolve_ref)
        if action == "CreateMultiple":
            context = f"{self.api_url}/$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse"
            return ApiResponse.json(200, {"@odata.context": context, "Ids": ids})
        return ApiResponse(204)
