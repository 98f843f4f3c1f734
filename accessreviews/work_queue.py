"""Reads behind the admins' work queue: what needs a person, in a fixed number of queries.

Sections: items in open stages that nobody may review, instances that failed (with Retry),
instances whose apply waits for a confirmation, revoked grants an import brought back, applied
removals that verification found still in place, and the scheduler's last tick. Everything is
limited to the reviews the viewer may see (permissions.definitions_visible_to); Retry is offered
where they may manage the series.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.utils import timezone

from accessreviews.health import STALE_AFTER_SECONDS
from accessreviews.models import (
    DecisionItem,
    InstanceStatus,
    ItemReviewer,
    ReviewInstance,
    ReviewStage,
    SchedulerHeartbeat,
    StageStatus,
)
from accessreviews.permissions import definitions_visible_to, may_manage_scope, owned_group_ids
from accessreviews.services.verify import verification_mismatches
from directory.capabilities import capabilities_for
from directory.models import (
    Application,
    DirectoryRole,
    GrantRevocation,
    Group,
    ResourceType,
    RevocationResult,
    User,
)

SECTION_LIMIT = 50  # rows per section; the page says when there are more


def may_see_work_queue(user) -> bool:
    """Readers and admins, and group owners while the tenant lets them manage reviews."""
    caps = capabilities_for(user)
    return caps.read_all or caps.manage_owned_group_reviews


@dataclass
class Heartbeat:
    last_tick_at: object = None
    minutes_ago: int | None = None
    stale: bool = True

    @property
    def never(self) -> bool:
        return self.last_tick_at is None


@dataclass
class WorkQueue:
    unreviewable: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    confirmations: list = field(default_factory=list)
    regranted: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)  # applied items whose grant is still there
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    manageable: set = field(default_factory=set)  # ids of definitions the viewer may manage

    @property
    def empty(self) -> bool:
        return not (
            self.unreviewable
            or self.failed
            or self.confirmations
            or self.regranted
            or self.mismatches
        )


def _limited(rows) -> list:
    return list(rows[: SECTION_LIMIT + 1])


def _visible_instances(user):
    return ReviewInstance.objects.filter(
        definition_id__in=definitions_visible_to(user).values("pk")
    )


def unreviewable_items(user) -> list[dict]:
    """Per instance and open stage: how many of its items have no reviewer link (one query)."""
    open_stage = ReviewStage.objects.filter(
        instance_id=OuterRef("instance_id"),
        ordinal=OuterRef("stage_ordinal"),
        status=StageStatus.IN_PROGRESS,
    )
    linked = ItemReviewer.objects.filter(
        item_id=OuterRef("pk"),
        stage__instance_id=OuterRef("instance_id"),
        stage__ordinal=OuterRef("stage_ordinal"),
    )
    rows = (
        DecisionItem.objects.filter(
            instance__in=_visible_instances(user).filter(status=InstanceStatus.IN_PROGRESS)
        )
        .filter(Exists(open_stage), ~Exists(linked))
        .values(
            "instance_id",
            "instance__uuid",
            "instance__resource_name",
            "instance__end_at",
            "instance__definition__name",
            "instance__definition__uuid",
            "stage_ordinal",
        )
        .annotate(count=Count("id"))
        .order_by("instance__end_at", "instance_id")
    )
    return _limited(rows)


def failed_instances(user):
    groups = Prefetch("definition__groups", queryset=Group.objects.only("id"))
    return _limited(
        _visible_instances(user)
        .filter(status=InstanceStatus.FAILED)
        .select_related("definition")
        .prefetch_related(groups)
        .order_by("-start_at", "pk")
    )


def instances_awaiting_confirmation(user):
    return _limited(
        _visible_instances(user)
        .filter(needs_confirmation=True)
        .select_related("definition")
        .order_by("completed_at", "pk")
    )


def _name_of(model, outer: str):
    return Subquery(model.objects.filter(pk=OuterRef(outer)).values("name")[:1])


def regranted_grants(user):
    """Revoked grants that an import re-created: who, on what, and when it came back."""
    revocations = GrantRevocation.objects.filter(
        result=RevocationResult.REMOVED, restored_at__isnull=False
    )
    caps = capabilities_for(user)
    if not caps.read_all:
        owned = Q(resource_type=ResourceType.GROUP, resource_id__in=owned_group_ids(user))
        revocations = revocations.filter(owned)
    return _limited(
        revocations.annotate(
            user_name=Subquery(
                User.objects.filter(pk=OuterRef("principal_id")).values("display_name")[:1]
            ),
            group_name=_name_of(Group, "principal_id"),
            resource_group=_name_of(Group, "resource_id"),
            resource_application=_name_of(Application, "resource_id"),
            resource_role=_name_of(DirectoryRole, "resource_id"),
        ).order_by("-restored_at", "-pk")
    )


def heartbeat(now=None) -> Heartbeat:
    beat = SchedulerHeartbeat.last()
    if beat is None:
        return Heartbeat()
    age = ((now or timezone.now()) - beat.last_tick_at).total_seconds()
    return Heartbeat(beat.last_tick_at, max(0, int(age // 60)), age > STALE_AFTER_SECONDS)


def manageable(user, definitions) -> set[int]:
    """Ids of the (groups-prefetched) definitions `user` may manage, owned groups read once."""
    caps = capabilities_for(user)
    owners_only = caps.manage_owned_group_reviews and not caps.manage_group_reviews
    owned = owned_group_ids(user) if owners_only and definitions else set()
    return {
        d.pk
        for d in definitions
        if may_manage_scope(user, d.scope_type, [g.pk for g in d.groups.all()], owned=owned)
    }


def work_queue(user) -> WorkQueue:
    queue = WorkQueue(
        unreviewable=unreviewable_items(user),
        failed=failed_instances(user),
        confirmations=instances_awaiting_confirmation(user),
        regranted=regranted_grants(user),
        mismatches=_limited(verification_mismatches(user)),
        heartbeat=heartbeat(),
    )
    definitions = {i.definition.pk: i.definition for i in queue.failed}
    queue.manageable = manageable(user, list(definitions.values()))
    return queue
