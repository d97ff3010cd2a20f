"""`EntityDefinitions` and `sdkmessagefilters`: the metadata real clients read before data."""

from __future__ import annotations

import re
import uuid

from .errors import ApiError, bad_request
from .messages import ApiRequest, ApiResponse
from .odata_filter import compile_filter
from .query import parse_select
from .schema import BULK_SETS, POINTER_DEF, TABLES, Attr, TableDef
from .service import Dataverse

_NS = uuid.UUID("0c7e4ad4-5c1b-4d3e-9f0b-7f2c3c1d2e99")
_ENTITY_COLUMNS = [
    "MetadataId", "LogicalName", "SchemaName", "EntitySetName", "LogicalCollectionName",
    "PrimaryIdAttribute", "PrimaryNameAttribute", "ObjectTypeCode", "IsActivity",
    "ChangeTrackingEnabled", "CanChangeTrackingBeEnabled", "IsCustomEntity",
]
_METADATA_TYPE = {"Uniqueidentifier": "UniqueIdentifier", "Owner": "Lookup",
                  "Customer": "Lookup", "Status": "Status", "State": "State"}
_ATTRIBUTE_COLUMNS = [
    "MetadataId", "LogicalName", "SchemaName", "AttributeType", "AttributeTypeName",
    "IsValidForRead", "IsValidForCreate", "IsValidForUpdate", "IsPrimaryId", "IsPrimaryName",
    "AttributeOf", "Targets", "EntityLogicalName", "IsCustomAttribute", "MaxLength",
]


class Metadata:
    def __init__(self, dv: Dataverse) -> None:
        self.dv = dv

    def _definitions(self) -> list[TableDef]:
        return [*TABLES, POINTER_DEF]

    def entity(self, definition: TableDef) -> dict[str, object]:
        tracked = definition is not POINTER_DEF
        return {
            "MetadataId": str(uuid.uuid5(_NS, definition.logical)),
            "LogicalName": definition.logical,
            "SchemaName": definition.logical.capitalize(),
            "EntitySetName": definition.entity_set,
            "LogicalCollectionName": definition.entity_set,
            "PrimaryIdAttribute": definition.primary_key,
            "PrimaryNameAttribute": definition.primary_name,
            "ObjectTypeCode": definition.object_type_code,
            "IsActivity": definition.activity_type is not None,
            "ChangeTrackingEnabled": tracked,
            "CanChangeTrackingBeEnabled": {
                "Value": tracked, "CanBeChanged": False,
                "ManagedPropertyLogicalName": "canchangetrackingbeenabled",
            },
            "IsCustomEntity": False,
        }

    def attributes(self, definition: TableDef) -> list[dict[str, object]]:
        if definition is POINTER_DEF:
            attrs = list(POINTER_DEF.attributes)
        else:
            attrs = list(self.dv.table(definition.entity_set).attrs.values())
        return [self.attribute(definition, a) for a in attrs]

    @staticmethod
    def attribute(definition: TableDef, attr: Attr) -> dict[str, object]:
        kind = attr.kind
        out: dict[str, object] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{_METADATA_TYPE.get(kind, kind)}"
                           "AttributeMetadata",
            "MetadataId": str(uuid.uuid5(_NS, f"{definition.logical}.{attr.logical}")),
            "LogicalName": attr.logical,
            "SchemaName": attr.logical if attr.custom else attr.logical.capitalize(),
            "EntityLogicalName": definition.logical,
            "AttributeType": kind,
            "AttributeTypeName": {"Value": f"{kind}Type"},
            "IsValidForRead": True,
            "IsValidForCreate": not attr.readonly and not attr.computed,
            "IsValidForUpdate": not attr.readonly and not attr.computed
                                and attr.column != definition.primary_key,
            "IsPrimaryId": attr.column == definition.primary_key,
            "IsPrimaryName": attr.column == definition.primary_name,
            "IsCustomAttribute": attr.custom,
            "AttributeOf": None,
            "Targets": list(attr.targets) if attr.is_lookup else None,
        }
        if attr.max_length is not None:
            out["MaxLength"] = attr.max_length
        if attr.min_value is not None:
            out["MinValue"] = attr.min_value
        if attr.max_value is not None:
            out["MaxValue"] = attr.max_value
        return out

    def entity_definitions(
        self, req: ApiRequest, key: str | None, rest: str | None, api_url: str
    ) -> ApiResponse:
        definitions = self._definitions()
        if key is not None:
            m = re.match(r"^(?:LogicalName=)?'?([\w-]+)'?$", key.strip())
            wanted = m.group(1).lower() if m else ""
            found = next(
                (d for d in definitions
                 if d.logical == wanted or str(uuid.uuid5(_NS, d.logical)) == wanted),
                None,
            )
            if found is None:
                raise ApiError(
                    404, "0x80040217",
                    f"Could not find an entity with key value '{key}'.",
                )
            if rest:
                part = rest.split("/")
                if part[0] == "Attributes" and len(part) == 1:
                    return ApiResponse.json(200, {"value": self._select(
                        req, self.attributes(found), _ATTRIBUTE_COLUMNS)})
                if part[0] in ("Attributes", "Keys", "ManyToOneRelationships",
                               "OneToManyRelationships"):
                    # Typed attribute casts (picklists etc.) and keys: the mock has none.
                    return ApiResponse.json(200, {"value": []})
                raise ApiError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
            row = self._select(req, [self._with_expand(req, found)], _ENTITY_COLUMNS)[0]
            row["@odata.context"] = f"{api_url}/$metadata#EntityDefinitions/$entity"
            return ApiResponse.json(200, row)
        rows = [self._with_expand(req, d) for d in definitions]
        filt = req.option("$filter")
        if filt:
            pred = compile_filter(filt, _ENTITY_COLUMNS, "EntityMetadata")
            rows = [r for r in rows if pred(r)]
        payload = {
            "@odata.context": f"{api_url}/$metadata#EntityDefinitions",
            "value": self._select(req, rows, _ENTITY_COLUMNS),
        }
        return ApiResponse.json(200, payload)

    def _with_expand(self, req: ApiRequest, definition: TableDef) -> dict[str, object]:
        row = self.entity(definition)
        expand = req.option("$expand")
        if expand:
            if not expand.startswith("Attributes"):
                raise bad_request(f"Unsupported $expand '{expand}' on EntityDefinitions.")
            row["Attributes"] = self.attributes(definition)
        return row

    @staticmethod
    def _select(
        req: ApiRequest, rows: list[dict[str, object]], columns: list[str]
    ) -> list[dict[str, object]]:
        select = parse_select(req.option("$select"), columns, "EntityMetadata")
        if select is None:
            return rows
        keep = set(select) | {"MetadataId", "Attributes"}
        return [{k: v for k, v in r.items() if k in keep} for r in rows]

    def message_filters(self, req: ApiRequest) -> ApiResponse:
        """Answers the documented "is CreateMultiple supported for table X" probe (§6)."""
        text = req.option("$filter") or ""
        aliases = {k: v.strip("'") for k, v in req.query if k.startswith("@")}
        for alias, value in aliases.items():
            text = text.replace(alias, f"'{value}'")
        message = re.search(r"sdkmessageid/name eq '(\w+)'", text)
        table = re.search(r"primaryobjecttypecode eq '(\w+)'", text)
        supported = {d.logical for d in TABLES if d.entity_set in BULK_SETS}
        hit = (
            message is not None and table is not None
            and message.group(1) in ("CreateMultiple", "UpdateMultiple")
            and table.group(1) in supported
        )
        value = (
            [{"sdkmessagefilterid": str(uuid.uuid5(_NS, f"{message.group(1)}.{table.group(1)}"))}]
            if hit and message and table else []
        )
        return ApiResponse.json(200, {"value": value})
