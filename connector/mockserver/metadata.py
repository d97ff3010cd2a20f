"""`EntityDefinitions` and `sdkmessagefilters`: the metadata real clients read before data."""

from __future__ import annotations

import re
import uuid

from . import errors, navigation
from .errors import ApiError, bad_request
from .expand import parse_select, split_top
from .messages import ApiRequest, ApiResponse
from .odata_filter import compile_filter
from .schema import BULK_SETS, POINTER_DEF, TABLES, Attr, TableDef
from .service import Dataverse

_NS = uuid.UUID("0c7e4ad4-5c1b-4d3e-9f0b-7f2c3c1d2e99")
_ENTITY_COLUMNS = [
    "MetadataId", "LogicalName", "SchemaName", "EntitySetName", "LogicalCollectionName",
    "PrimaryIdAttribute", "PrimaryNameAttribute", "ObjectTypeCode", "IsActivity",
    "ChangeTrackingEnabled", "CanChangeTrackingBeEnabled", "IsCustomEntity", "IsPrivate",
    "IsIntersect", "OwnershipType", "DisplayName", "DisplayCollectionName", "Description",
    "IsValidForAdvancedFind",
]
_KEY_COLUMNS = ["MetadataId", "SchemaName", "LogicalName", "EntityLogicalName",
                "KeyAttributes", "EntityKeyIndexStatus", "IsCustomizable"]
_RELATIONSHIP_COLUMNS = [
    "MetadataId", "SchemaName", "RelationshipType", "ReferencedEntity", "ReferencedAttribute",
    "ReferencingEntity", "ReferencingAttribute", "ReferencedEntityNavigationPropertyName",
    "ReferencingEntityNavigationPropertyName", "IsCustomRelationship",
]
_OWNERSHIP = {"systemuser": "BusinessOwned", "team": "BusinessOwned",
              "asyncoperation": "None", "activityparty": "None", "activitypointer": "UserOwned"}


def _label(text: str) -> dict[str, object]:
    local = {"Label": text, "LanguageCode": 1033}
    return {"LocalizedLabels": [local], "UserLocalizedLabel": local}
_METADATA_TYPE = {"Uniqueidentifier": "UniqueIdentifier", "Owner": "Lookup",
                  "Customer": "Lookup", "Status": "Status", "State": "State"}
_ATTRIBUTE_COLUMNS = [
    "MetadataId", "LogicalName", "SchemaName", "AttributeType", "AttributeTypeName",
    "IsValidForRead", "IsValidForCreate", "IsValidForUpdate", "IsPrimaryId", "IsPrimaryName",
    "AttributeOf", "Targets", "EntityLogicalName", "IsCustomAttribute", "MaxLength",
    "MinValue", "MaxValue", "DisplayName", "RequiredLevel", "DateTimeBehavior", "Format",
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
            "IsPrivate": False,
            "IsIntersect": False,
            "OwnershipType": _OWNERSHIP.get(definition.logical, "UserOwned"),
            "DisplayName": _label(definition.logical.capitalize()),
            "DisplayCollectionName": _label(definition.entity_set.capitalize()),
            "Description": _label(""),
            "IsValidForAdvancedFind": True,
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
            # A file column is a Virtual attribute of type FileType, as in Dataverse.
            "AttributeType": "Virtual" if kind == "File" else kind,
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
            "DisplayName": _label(attr.logical),
            "RequiredLevel": {"Value": "SystemRequired" if attr.column == definition.primary_key
                              else "None"},
        }
        if kind == "DateTime":
            # Every date column of the mock is stored and returned in UTC.
            out["DateTimeBehavior"] = {"Value": "UserLocal"}
            out["Format"] = "DateAndTime"
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
        if req.method != "GET":
            raise errors.not_implemented(
                "metadata changes (creating or changing tables, columns, keys or relationships)")
        context = f"{api_url}/$metadata#EntityDefinitions"
        if key is None:
            if rest:
                raise ApiError(404, errors.RESOURCE_NOT_FOUND,
                               f"Resource not found for the segment '{rest}'.")
            rows = self._filtered(req, [self._with_expand(req, d) for d in self._definitions()],
                                  _ENTITY_COLUMNS, "EntityMetadata")
            return ApiResponse.json(200, {"@odata.context": context, "value": self._select(
                req, rows, _ENTITY_COLUMNS)})
        found = self._entity_by_key(key)
        if not rest:
            row = self._select(req, [self._with_expand(req, found)], _ENTITY_COLUMNS)[0]
            return ApiResponse.json(200, {"@odata.context": f"{context}/$entity", **row})
        return self._entity_part(req, found, rest, context)

    def _entity_by_key(self, key: str) -> TableDef:
        m = re.match(r"^(?:LogicalName=)?'?([\w-]+)'?$", key.strip())
        wanted = m.group(1).lower() if m else ""
        for d in self._definitions():
            if d.logical == wanted or str(uuid.uuid5(_NS, d.logical)) == wanted:
                return d
        raise ApiError(404, errors.NOT_FOUND, f"Could not find an entity with key value '{key}'.")

    def _entity_part(
        self, req: ApiRequest, found: TableDef, rest: str, context: str
    ) -> ApiResponse:
        m = re.match(r"^(?P<part>\w+)(?:\((?P<key>[^)]*)\))?(?:/(?P<cast>[\w.]+))?$", rest)
        if m is None:
            raise ApiError(404, errors.RESOURCE_NOT_FOUND,
                           f"Resource not found for the segment '{rest}'.")
        part, key, cast = m.group("part"), m.group("key"), m.group("cast")
        if part == "Attributes":
            rows = self.attributes(found)
            if cast:
                kind = cast.removeprefix("Microsoft.Dynamics.CRM.")
                rows = [r for r in rows if str(r["@odata.type"]).endswith("." + kind)]
                rows = [self._option_set(req, found, r) for r in rows]
            if key is not None:
                name = re.sub(r"^(?:LogicalName=)?'?([^']*)'?$", r"\1", key)
                match = [r for r in rows if r["LogicalName"] == name or r["MetadataId"] == name]
                if not match:
                    raise ApiError(404, errors.NOT_FOUND,
                                   f"Could not find an attribute with key value '{key}'.")
                row = self._select(req, match, [*_ATTRIBUTE_COLUMNS, "OptionSet"])[0]
                return ApiResponse.json(200, {
                    "@odata.context": f"{context}({found.logical})/Attributes/$entity", **row})
            rows = self._filtered(req, rows, _ATTRIBUTE_COLUMNS, "AttributeMetadata")
            return ApiResponse.json(200, {"value": self._select(
                req, rows, [*_ATTRIBUTE_COLUMNS, "OptionSet"])})
        if part == "Keys" and key is None:
            return ApiResponse.json(200, {"value": self._select(
                req, self.keys(found), _KEY_COLUMNS)})
        if part in ("ManyToOneRelationships", "OneToManyRelationships",
                    "ManyToManyRelationships") and key is None:
            if part == "ManyToManyRelationships":
                rows = []
            else:
                referencing = part == "ManyToOneRelationships"
                rows = [self.relationship(r) for r in navigation.RELATIONSHIPS
                        if (r.referencing if referencing else r.referenced).logical
                        == found.logical]
            rows = self._filtered(req, rows, _RELATIONSHIP_COLUMNS, "RelationshipMetadata")
            return ApiResponse.json(200, {"value": self._select(
                req, rows, _RELATIONSHIP_COLUMNS)})
        raise ApiError(404, errors.RESOURCE_NOT_FOUND,
                       f"Resource not found for the segment '{rest}'.")

    def relationship_definitions(
        self, req: ApiRequest, key: str | None, rest: str | None, api_url: str
    ) -> ApiResponse:
        if req.method != "GET":
            raise errors.not_implemented("metadata changes (creating or deleting relationships)")
        rows = [self.relationship(r) for r in navigation.RELATIONSHIPS]
        if rest and rest.removeprefix("Microsoft.Dynamics.CRM.") != (
                "OneToManyRelationshipMetadata"):
            rows = []
        if key is not None:
            name = re.sub(r"^(?:SchemaName=)?'?([^']*)'?$", r"\1", key)
            match = [r for r in rows if name in (r["SchemaName"], r["MetadataId"])]
            if not match:
                raise ApiError(404, errors.NOT_FOUND,
                               f"Could not find a relationship with key value '{key}'.")
            return ApiResponse.json(200, {
                "@odata.context": f"{api_url}/$metadata#RelationshipDefinitions/$entity",
                **self._select(req, match, _RELATIONSHIP_COLUMNS)[0]})
        rows = self._filtered(req, rows, _RELATIONSHIP_COLUMNS, "RelationshipMetadataBase")
        return ApiResponse.json(200, {
            "@odata.context": f"{api_url}/$metadata#RelationshipDefinitions",
            "value": self._select(req, rows, _RELATIONSHIP_COLUMNS)})

    def keys(self, definition: TableDef) -> list[dict[str, object]]:
        if definition is POINTER_DEF:
            return []
        table = self.dv.table(definition.entity_set)
        return [{
            "MetadataId": str(uuid.uuid5(_NS, f"{definition.logical}.key.{name}")),
            "SchemaName": name, "LogicalName": name, "EntityLogicalName": definition.logical,
            "KeyAttributes": [table.attrs[c].logical if c in table.attrs else c for c in cols],
            "EntityKeyIndexStatus": "Active", "IsCustomizable": {"Value": True},
        } for name, cols in table.keys.items()]

    @staticmethod
    def relationship(rel: navigation.Relationship) -> dict[str, object]:
        return {
            "@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "MetadataId": str(uuid.uuid5(_NS, f"rel.{rel.schema_name}.{rel.referencing.logical}"
                                              f".{rel.attribute.logical}")),
            "SchemaName": rel.schema_name,
            "RelationshipType": "OneToManyRelationship",
            "ReferencedEntity": rel.referenced.logical,
            "ReferencedAttribute": rel.referenced.primary_key,
            "ReferencingEntity": rel.referencing.logical,
            "ReferencingAttribute": rel.attribute.logical,
            "ReferencedEntityNavigationPropertyName": rel.referenced_nav,
            "ReferencingEntityNavigationPropertyName": rel.referencing_nav,
            "IsCustomRelationship": False,
        }

    def _option_set(
        self, req: ApiRequest, definition: TableDef, row: dict[str, object]
    ) -> dict[str, object]:
        expand = req.option("$expand") or ""
        if not expand.startswith("OptionSet") and not expand.startswith("GlobalOptionSet"):
            return row
        table_attrs = ({a.logical: a for a in POINTER_DEF.attributes} if definition is POINTER_DEF
                       else {a.logical: a for a in self.dv.table(definition.entity_set)
                             .attrs.values()})
        attr = table_attrs[str(row["LogicalName"])]
        labels = dict(attr.options)
        if attr.kind == "Boolean" and attr.labels:
            labels = {0: attr.labels[0], 1: attr.labels[1]}
        options = [{"Value": value, "Label": {
            "LocalizedLabels": [{"Label": text, "LanguageCode": 1033}],
            "UserLocalizedLabel": {"Label": text, "LanguageCode": 1033}}}
            for value, text in labels.items()]
        if attr.kind == "Status":
            for option in options:
                option["State"] = next(
                    (s for s, (_, ok) in definition.states.items() if option["Value"] in ok), None)
        return {**row, "OptionSet": {"Name": f"{definition.logical}_{attr.logical}",
                                     "Options": options}}

    def _filtered(
        self, req: ApiRequest, rows: list[dict[str, object]], columns: list[str], kind: str
    ) -> list[dict[str, object]]:
        text = req.option("$filter")
        if not text:
            return rows
        pred = compile_filter(text, columns, kind)
        return [r for r in rows if pred(r)]

    def _with_expand(self, req: ApiRequest, definition: TableDef) -> dict[str, object]:
        row = self.entity(definition)
        expand = req.option("$expand")
        if expand:
            for item in split_top(expand, ","):
                name = item.partition("(")[0]
                if name == "Attributes":
                    row["Attributes"] = self.attributes(definition)
                elif name == "Keys":
                    row["Keys"] = self.keys(definition)
                elif name in ("ManyToOneRelationships", "OneToManyRelationships"):
                    referencing = name == "ManyToOneRelationships"
                    row[name] = [self.relationship(r) for r in navigation.RELATIONSHIPS
                                 if (r.referencing if referencing else r.referenced).logical
                                 == definition.logical]
                elif name == "ManyToManyRelationships":
                    row[name] = []
                else:
                    raise bad_request(f"Unsupported $expand '{name}' on EntityDefinitions.")
        return row

    @staticmethod
    def _select(
        req: ApiRequest, rows: list[dict[str, object]], columns: list[str]
    ) -> list[dict[str, object]]:
        select = parse_select(req.option("$select"), columns, "EntityMetadata")
        if select is None:
            return rows
        keep = set(select) | {"MetadataId", "@odata.type", "Attributes", "Keys",
                              "ManyToOneRelationships", "OneToManyRelationships",
                              "ManyToManyRelationships", "OptionSet"}
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
