"""Reads behind the reviews pages, each bundling its joins so a page runs a fixed number of queries.

Every read takes the user and sees only what permissions.definitions_visible_to lets them see.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from accessreviews import describe, schedule
from accessreviews.choices import Decision, ScopeType, SeriesStatus
from accessreviews.models import (
    DecisionItem,
    DefinitionStage,
    ItemStageHistory,
    ReviewDefinition,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import InstanceStatus, StageStatus
from accessreviews.permissions import definitions_visible_to, instances_visible_to, may_manage
from accessreviews.selectors_panel import floor_percent
from accessreviews.services.start import RUNNING
from directory.models import Application, DirectoryRole, Group, User

PAGE_SIZE = 25
UPCOMING = 12
INSTANCES_SHOWN = 50


@dataclass(frozen=True)
class DefinitionFilter:
    status: str = ""
    scope_type: str = ""
    creator: str = ""

    @classmethod
    def from_params(cls, params: Mapping) -> "DefinitionFilter":
        def choice(name, allowed):
            value = params.get(name, "")
            return value if value in allowed else ""

        return cls(
            status=choice("status", SeriesStatus.values),
            scope_type=choice("type", ScopeType.values),
            creator=params.get("creator", "").strip()[:200],
        )

    @property
    def is_set(self) -> bool:
        return bool(self.status or self.scope_type or self.creator)


def _names(model, *fields) -> QuerySet:
    return model.objects.only("id", "uuid", *fields).order_by(*fields, "id")


def _visible(user) -> QuerySet:
    # By id, so the owner's join on groups never narrows the groups prefetched for display.
    return ReviewDefinition.objects.filter(pk__in=definitions_visible_to(user).values("pk"))


def definition_list(user, filters: DefinitionFilter) -> QuerySet:
    """The definitions `user` may see, newest first, with what the list shows of each."""
    definitions = _visible(user)
    if filters.status:
        definitions = definitions.filter(status=filters.status)
    if filters.scope_type:
        definitions = definitions.filter(scope_type=filters.scope_type)
    if filters.creator:
        definitions = definitions.filter(
            Q(created_by__display_name__icontains=filters.creator)
            | Q(created_by__user_principal_name__icontains=filters.creator)
        )
    return (
        definitions.select_related("created_by")
        .prefetch_related(
            Prefetch("groups", queryset=_names(Group, "name")),
            Prefetch("applications", queryset=_names(Application, "name")),
            Prefetch("roles", queryset=_names(DirectoryRole, "name")),
            Prefetch("stages", queryset=DefinitionStage.objects.order_by("ordinal")),
        )
        .order_by("-created_at", "-id")
    )


@dataclass
class DefinitionPage:
    definition: ReviewDefinition
    can_manage: bool
    upcoming: list[schedule.Occurrence]
    visible_instances: Q = field(default_factory=Q)  # permissions.instances_visible_to

    @cached_property
    def stages(self) -> list[tuple[DefinitionStage, list[describe.Line]]]:
        stages = list(self.definition.stages.all())
        return [(s, describe.describe_stage(s, is_last=s is stages[-1])) for s in stages]

    @cached_property
    def scope(self) -> list[describe.Line]:
        return describe.describe_scope(self.definition)

    @cached_property
    def schedule_text(self) -> str:
        return describe.describe_schedule(self.definition)

    @cached_property
    def settings(self) -> list[describe.Line]:
        return describe.describe_settings(self.definition)

    @cached_property
    def instances(self) -> list:
        """The series' runs, newest first (one query), each linking to its instance page."""
        return list(
            self.definition.instances.filter(self.visible_instances).order_by(
                "-occurrence_start", "resource_name", "pk"
            )[:INSTANCES_SHOWN]
        )

    instances_shown = INSTANCES_SHOWN

    @property
    def running(self) -> list:
        return [i for i in self.instances if i.status == InstanceStatus.IN_PROGRESS]

    @property
    def may_edit(self) -> bool:
        return self.can_manage and self.definition.status != SeriesStatus.ENDED

    @property
    def may_pause(self) -> bool:
        return self.can_manage and self.definition.status == SeriesStatus.ACTIVE

    @property
    def may_resume(self) -> bool:
        return self.can_manage and self.definition.status == SeriesStatus.PAUSED

    @property
    def may_end(self) -> bool:
        return self.can_manage and self.definition.status != SeriesStatus.ENDED

    @property
    def may_start_now(self) -> bool:
        """Managers of an active series with no review running (`running` is annotated)."""
        return (
            self.can_manage
            and self.definition.status == SeriesStatus.ACTIVE
            and self.definition.next_occurrence_at is not None
            and not getattr(self.definition, "running", True)
        )

    @property
    def may_delete(self) -> bool:
        return self.can_manage and not self.definition.is_started


def definition_for(user, uuid, queryset: QuerySet | None = None) -> tuple[ReviewDefinition, bool]:
    """The definition and whether `user` may manage it; Http404 if they may not see it."""
    queryset = ReviewDefinition.objects.all() if queryset is None else queryset
    definition = queryset.filter(
        pk__in=definitions_visible_to(user).values("pk"), uuid=uuid
    ).first()
    if definition is None:
        raise Http404("No review definition here.")
    return definition, may_manage(user, definition)


def definition_page(user, uuid) -> DefinitionPage:
    """A series page: the definition with every relation its description names, and what's next."""
    people = _names(User, "display_name")
    stages = DefinitionStage.objects.order_by("ordinal").prefetch_related(
        Prefetch("reviewer_users", queryset=people),
        Prefetch("reviewer_groups", queryset=_names(Group, "name")),
        Prefetch("fallback_users", queryset=people),
        Prefetch("fallback_groups", queryset=_names(Group, "name")),
    )
    running = ReviewInstance.objects.filter(definition_id=OuterRef("pk"), status__in=RUNNING)
    queryset = ReviewDefinition.objects.select_related("created_by").annotate(
        running=Exists(running)
    )
    queryset = queryset.prefetch_related(
        Prefetch("groups", queryset=_names(Group, "name")),
        Prefetch("excluded_groups", queryset=_names(Group, "name")),
        Prefetch("applications", queryset=_names(Application, "name")),
        Prefetch("roles", queryset=_names(DirectoryRole, "name")),
        Prefetch("additional_recipients", queryset=people),
        Prefetch("stages", queryset=stages),
    )
    definition, can_manage = definition_for(user, uuid, queryset)
    return DefinitionPage(
        definition, can_manage, upcoming_occurrences(definition), instances_visible_to(user)
    )


def upcoming_occurrences(definition: ReviewDefinition, limit: int = UPCOMING):
    """The series' next occurrences, from the next unstarted one; none once it has ended."""
    if definition.status == SeriesStatus.ENDED:
        return []
    plan = definition.schedule()
    return schedule.occurrences(plan, definition.next_occurrence_index, limit)


# --- The instance page ---------------------------------------------------------------------------

REVIEWERS_SHOWN = 100
DECISIONS = (Decision.APPROVE, Decision.DENY, Decision.DONT_KNOW, Decision.NOT_REVIEWED)


@dataclass
class StageProgress:
    stage: ReviewStage
    counts: dict[str, int]  # decision -> items, for this stage's own decisions

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def decided(self) -> int:
        return self.total - self.counts.get(Decision.NOT_REVIEWED, 0)

    @property
    def percent(self) -> int:
        return floor_percent(self.decided, self.total, empty=0)  # a stage nobody is in

    @property
    def rows(self) -> list[tuple[str, str, int]]:
        return [(d, Decision(d).label, self.counts.get(d, 0)) for d in DECISIONS]


@dataclass
class InstancePage:
    instance: ReviewInstance
    can_manage: bool
    stages: list[StageProgress]
    final: dict[str, int]
    reviewers: list[ReviewerAssignment]
    more_reviewers: bool

    @property
    def is_running(self) -> bool:
        return self.instance.status == InstanceStatus.IN_PROGRESS

    @property
    def may_operate(self) -> bool:
        return self.can_manage and self.is_running and self.open_stage is not None

    @cached_property
    def open_stage(self) -> ReviewStage | None:
        return next(
            (p.stage for p in self.stages if p.stage.status == StageStatus.IN_PROGRESS), None
        )

    @property
    def is_last_stage(self) -> bool:
        return self.open_stage is not None and self.open_stage.ordinal == len(self.stages)

    @property
    def final_rows(self) -> list[tuple[str, str, int]]:
        return [(d, Decision(d).label, self.final.get(d, 0)) for d in DECISIONS]

    @property
    def item_count(self) -> int:
        return sum(self.final.values())

    @cached_property
    def open_reviewers(self) -> list[ReviewerAssignment]:
        """The open stage's reviewers with items left: who items can be reassigned from."""
        stage = self.open_stage
        return [a for a in self.reviewers if stage and a.stage_id == stage.pk and a.pending]


def instance_for(user, uuid) -> tuple[ReviewInstance, bool]:
    """The instance (with its definition) and whether `user` may manage it; else Http404."""
    instance = (
        ReviewInstance.objects.select_related("definition")
        .filter(definition__in=definitions_visible_to(user).values("pk"), uuid=uuid)
        .filter(instances_visible_to(user))
        .first()
    )
    if instance is None:
        raise Http404("No review here.")
    return instance, may_manage(user, instance.definition)


def instance_page(user, uuid) -> InstancePage:
    """The instance page: progress by stage and by reviewer, in a fixed number of queries."""
    instance, can_manage = instance_for(user, uuid)
    stages = list(ReviewStage.objects.filter(instance=instance).order_by("ordinal"))
    by_item = (
        DecisionItem.objects.filter(instance=instance)
        .order_by()
        .values_list("stage_ordinal", "stage_decision", "decision")
        .annotate(n=Count("id"))
    )
    open_counts, final = {}, dict.fromkeys(DECISIONS, 0)
    for ordinal, stage_decision, decision, n in by_item:
        key = (ordinal, stage_decision)
        open_counts[key] = open_counts.get(key, 0) + n
        final[decision] += n
    history = dict(
        ((ordinal, decision), n)
        for ordinal, decision, n in ItemStageHistory.objects.filter(item__instance=instance)
        .order_by()
        .values_list("stage_ordinal", "decision")
        .annotate(n=Count("id"))
    )
    progress = []
    for stage in stages:
        source = open_counts if stage.status == StageStatus.IN_PROGRESS else history
        counts = {d: source.get((stage.ordinal, d), 0) for d in DECISIONS}
        progress.append(StageProgress(stage, counts if any(counts.values()) else {}))
    reviewers = list(
        ReviewerAssignment.objects.filter(stage__instance=instance)
        .select_related("reviewer")
        .order_by("-stage__ordinal", "-pending", "reviewer__display_name", "pk")[
            : REVIEWERS_SHOWN + 1
        ]
    )
    stage_by_id = {s.pk: s for s in stages}
    for assignment in reviewers:
        assignment.stage = stage_by_id[assignment.stage_id]  # no query per row
    return InstancePage(
        instance,
        can_manage,
        progress,
        final,
        reviewers[:REVIEWERS_SHOWN],
        len(reviewers) > REVIEWERS_SHOWN,
    )
