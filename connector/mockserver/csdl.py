"""The service document (`GET {api}/`) and `$metadata`: a CSDL (EDMX) document generated from
the mock's schema, with entity types, keys, properties, navigation properties and operations."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from . import navigation
from .schema import BY_LOGICAL, EDM_TYPES, POINTER_DEF, POINTER_SET, TABLES, TableDef
from .store import Table

# name, bound to (entity type or None), parameters, return type (None: nothing), function?
OPERATIONS: tuple[tuple[str, str | None, tuple[tuple[str, str], ...], str | None, bool], ...] = (
    ("WhoAmI", None, (), "mscrm.WhoAmIResponse", True),
    ("RetrieveTotalRecordCount", None, (("EntityNames", "Collection(Edm.String)"),),
     "mscrm.RetrieveTotalRecordCountResponse", True),
    ("InstantiateTemplate", None, (("TemplateId", "Edm.Guid"), ("ObjectType", "Edm.String"),
                                   ("ObjectId", "Edm.Guid")),
     "Collection(mscrm.crmbaseentity)", False),
    ("SendEmail", "mscrm.email", (("IssueSend", "Edm.Boolean"), ("TrackingToken", "Edm.String")),
     "mscrm.SendEmailResponse", False),
    ("QualifyLead", "mscrm.lead", (("CreateAccount", "Edm.Boolean"),
                                   ("CreateContact", "Edm.Boolean"),
                                   ("CreateOpportunity", "Edm.Boolean"), ("Status", "Edm.Int32"),
                                   ("OpportunityCustomerId", "mscrm.crmbaseentity"),
                                   ("SourceCampaignId", "mscrm.campaign")),
     "Collection(mscrm.crmbaseentity)", False),
    ("WinOpportunity", None, (("OpportunityClose", "mscrm.opportunityclose"),
                              ("Status", "Edm.Int32")), None, False),
    ("LoseOpportunity", None, (("OpportunityClose", "mscrm.opportunityclose"),
                               ("Status", "Edm.Int32")), None, False),
    ("BulkDelete", None, (("QuerySet", "Collection(mscrm.QueryExpression)"),
                          ("JobName", "Edm.String"), ("SendEmailNotification", "Edm.Boolean"),
                          ("ToRecipients", "Collection(mscrm.activityparty)"),
                          ("CCRecipients", "Collection(mscrm.activityparty)"),
                          ("RecurrencePattern", "Edm.String"),
                          ("StartDateTime", "Edm.DateTimeOffset")),
     "mscrm.BulkDeleteResponse", False),
    ("CreateMultiple", "Collection(mscrm.crmbaseentity)",
     (("Targets", "Collection(mscrm.crmbaseentity)"),), "mscrm.CreateMultipleResponse", False),
    ("UpdateMultiple", "Collection(mscrm.crmbaseentity)",
     (("Targets", "Collection(mscrm.crmbaseentity)"),), None, False),
    ("UpsertMultiple", "Collection(mscrm.crmbaseentity)",
     (("Targets", "Collection(mscrm.crmbaseentity)"),), None, False),
)
_COMPLEX = {
    "WhoAmIResponse": (("BusinessUnitId", "Edm.Guid"), ("UserId", "Edm.Guid"),
                       ("OrganizationId", "Edm.Guid")),
    "SendEmailResponse": (("Subject", "Edm.String"),),
    "BulkDeleteResponse": (("JobId", "Edm.Guid"),),
    "CreateMultipleResponse": (("Ids", "Collection(Edm.Guid)"),),
    "RetrieveTotalRecordCountResponse": (("EntityRecordCountCollection",
                                          "mscrm.EntityRecordCountCollection"),),
}


def service_document(api_url: str) -> dict[str, object]:
    sets = [t.entity_set for t in TABLES] + [POINTER_SET]
    return {"@odata.context": f"{api_url}/$metadata",
            "value": [{"name": s, "kind": "EntitySet", "url": s} for s in sorted(sets)]}


def _entity_type(definition: TableDef, table: Table | None) -> list[str]:
    base = "mscrm.activitypointer" if definition.activity_type else "mscrm.crmbaseentity"
    attrs = list(table.attrs.values()) if table is not None else list(definition.attributes)
    lines = [f'<EntityType Name="{definition.logical}" BaseType="{base}">',
             f'<Key><PropertyRef Name="{definition.primary_key}"/></Key>']
    for attr in attrs:
        edm = EDM_TYPES[attr.kind]
        extra = ' Unicode="false"' if edm == "Edm.String" else ""
        lines.append(f'<Property Name="{attr.column}" Type="{edm}"{extra}/>')
    for attr in attrs:
        if not attr.is_lookup:
            continue
        navs = {(navigation.referencing_nav(definition, attr, t), t)
                for t in attr.targets if t in BY_LOGICAL}
        if attr.kind == "Owner":
            navs = {(attr.logical, "principal")}
        for name, target in sorted(navs):
            referenced = "ownerid" if target == "principal" else BY_LOGICAL[target].primary_key
            lines.append(
                f'<NavigationProperty Name="{name}" Type="mscrm.{target}">'
                f'<ReferentialConstraint Property="{attr.column}" '
                f'ReferencedProperty="{referenced}"/></NavigationProperty>')
    for rel in navigation.RELATIONSHIPS:
        if rel.referenced.logical == definition.logical:
            lines.append(
                f'<NavigationProperty Name="{rel.referenced_nav}" '
                f'Type="Collection(mscrm.{rel.referencing.logical})" '
                f'Partner="{rel.referencing_nav}"/>')
    lines.append("</EntityType>")
    return lines


def metadata_document(tables: dict[str, Table]) -> str:
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
           "<edmx:DataServices>",
           '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" '
           'xmlns="http://docs.oasis-open.org/odata/ns/edm">',
           '<EntityType Name="crmbaseentity" Abstract="true"/>',
           '<EntityType Name="expando" BaseType="mscrm.crmbaseentity" OpenType="true"/>',
           '<EntityType Name="principal" BaseType="mscrm.crmbaseentity">'
           '<Key><PropertyRef Name="ownerid"/></Key>'
           '<Property Name="ownerid" Type="Edm.Guid"/></EntityType>']
    for definition in (*TABLES, POINTER_DEF):
        out += _entity_type(definition, tables.get(definition.entity_set))
    for name, props in _COMPLEX.items():
        out.append(f'<ComplexType Name="{name}">')
        out += [f'<Property Name="{p}" Type="{t}"/>' for p, t in props]
        out.append("</ComplexType>")
    for name, bound, params, returns, function in OPERATIONS:
        tag = "Function" if function else "Action"
        out.append(f'<{tag} Name="{name}" IsBound="{"true" if bound else "false"}">')
        if bound:
            out.append(f'<Parameter Name="entity" Type="{bound}" Nullable="false"/>')
        out += [f'<Parameter Name="{p}" Type="{t}"/>' for p, t in params]
        if returns:
            out.append(f'<ReturnType Type="{returns}" Nullable="false"/>')
        out.append(f"</{tag}>")
    out.append('<EntityContainer Name="System">')
    for definition in (*TABLES, POINTER_DEF):
        out.append(f"<EntitySet Name={quoteattr(definition.entity_set)} "
                   f'EntityType="Microsoft.Dynamics.CRM.{definition.logical}"/>')
    for name, bound, _, _, function in OPERATIONS:
        if not bound:
            kind = "FunctionImport" if function else "ActionImport"
            target = "Function" if function else "Action"
            out.append(f'<{kind} Name="{name}" {target}="Microsoft.Dynamics.CRM.{name}"/>')
    out += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(out)
