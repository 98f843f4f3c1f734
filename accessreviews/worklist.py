"""An applied instance's revocation worklist, for the source system's admins or scripts.

Where the directory is fed from another system (directory/importer), a removal here must also
reach that system, or the next import brings the grant back. The worklist says who lost what,
when and why, one row per denied item with its result, streamed (CSV or a JSON array) so a
large instance never sits in memory.
"""

import csv
import json
from collections.abc import Iterator

from django.db.models import Case, CharField, F, OuterRef, QuerySet, Subquery, UUIDField, When

from accessreviews.choices import Decision
from accessreviews.models import DecisionItem, ReviewInstance
from accessreviews.models.instances import ApplyResult, DecisionSource
from directory.models import Application, DirectoryRole, Group, PrincipalType, ResourceType, User

FORMATS = ("csv", "json")
COLUMNS = (
    "principal_type",
    "principal_id",
    "principal_external_id",
    "principal_upn",
    "principal_name",
    "resource_type",
    "resource_id",
    "resource_external_id",
    "resource_name",
    "applied_at",
    "decision",
    "decided_by",
    "decided_at",
    "justification",
    "apply_result",
    "apply_detail",
    "verification_status",
    "verification",
)
# Each resource model and the column the source system knows it by (roles: Entra's template id).
RESOURCE_MODELS = {
    ResourceType.GROUP: (Group, "external_id"),
    ResourceType.APPLICATION: (Application, "external_id"),
    ResourceType.DIRECTORY_ROLE: (DirectoryRole, "template_id"),
}
CHUNK = 2000


def _principal(field: str, output_field) -> Case:
    """The principal's `field` (uuid, external_id), whether a user or a group."""
    user = User.objects.filter(pk=OuterRef("principal_id")).values(field)[:1]
    group = Group.objects.filter(pk=OuterRef("principal_id")).values(field)[:1]
    return Case(
        When(principal_type=PrincipalType.USER, then=Subquery(user)),
        default=Subquery(group),
        output_field=output_field,
    )


def worklist_items(instance: ReviewInstance) -> QuerySet:
    """The instance's denied items apply has settled, in a stable order."""
    return (
        DecisionItem.objects.filter(instance=instance, decision=Decision.DENY)
        .exclude(apply_result=ApplyResult.NEW)
        .annotate(
            principal_uuid=_principal("uuid", UUIDField()),
            principal_external=_principal("external_id", CharField()),
            reviewer_upn=F("reviewed_by__user_principal_name"),
        )
        .order_by("id")
    )


def _resource(instance: ReviewInstance) -> dict:
    model, external_id = RESOURCE_MODELS[instance.resource_type]
    row = model.objects.filter(pk=instance.resource_id).values_list("uuid", external_id).first()
    return {"uuid": row[0], "external_id": row[1]} if row else {"uuid": "", "external_id": ""}


def worklist_rows(instance: ReviewInstance) -> Iterator[dict]:
    """One dict per row (COLUMNS), read in chunks."""
    resource = _resource(instance)
    fields = (
        "principal_type",
        "principal_uuid",
        "principal_external",
        "principal_upn",
        "principal_name",
        "applied_at",
        "decision",
        "decision_source",
        "reviewer_upn",
        "reviewed_at",
        "justification",
        "apply_result",
        "apply_detail",
        "verification_status",
        "verification",
    )
    for item in worklist_items(instance).values(*fields).iterator(chunk_size=CHUNK):
        yield {
            "principal_type": item["principal_type"],
            "principal_id": str(item["principal_uuid"] or ""),
            "principal_external_id": item["principal_external"] or "",
            "principal_upn": item["principal_upn"],
            "principal_name": item["principal_name"],
            "resource_type": instance.resource_type,
            "resource_id": str(resource["uuid"]),
            "resource_external_id": resource["external_id"],
            "resource_name": instance.resource_name,
            "applied_at": _iso(item["applied_at"]),
            "decision": item["decision"],
            "decided_by": _decided_by(item),
            "decided_at": _iso(item["reviewed_at"]),
            "justification": item["justification"],
            "apply_result": item["apply_result"],
            "apply_detail": item["apply_detail"],
            "verification_status": item["verification_status"],
            "verification": item["verification"],
        }


def _decided_by(item: dict) -> str:
    if item["decision_source"] == DecisionSource.DEFAULT:
        return "auto-review (the default decision)"
    return item["reviewer_upn"] or ""


def _iso(instant) -> str:
    return instant.isoformat().replace("+00:00", "Z") if instant else ""


class _Echo:
    """A file-like object csv.writer writes into, handing each line back (Django's recipe)."""

    def write(self, value):
        return value


def _safe(value: str) -> str:
    # A cell a spreadsheet would run as a formula (CSV injection) starts with a quote instead.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_lines(instance: ReviewInstance) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(COLUMNS)  # a BOM, so spreadsheets read UTF-8
    for row in worklist_rows(instance):
        yield writer.writerow([_safe(str(row[column])) for column in COLUMNS])


def json_chunks(instance: ReviewInstance) -> Iterator[str]:
    yield "["
    separator = ""
    for row in worklist_rows(instance):
        yield separator + json.dumps(row, ensure_ascii=False)
        separator = ",\n"
    yield "]\n"
