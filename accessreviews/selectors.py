"""Reads behind the reviews pages, each bundling its joins so a page runs a fixed number of queries.

Every read takes the user and sees only what permissions.definitions_visible_to lets them see.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from accessreviews import describe, schedule
from accessreviews.choices import ScopeType, SeriesStatus
from accessreviews.models import DefinitionStage, ReviewDefinition, ReviewInstance
from accessreviews.permissions import definitions_visible_to, may_manage
from accessreviews.services.start import RUNNING
from directory.models import Application, DirectoryRole, Group, User

PAGE_SIZE = 25
UPCOMING = 12


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
    return DefinitionPage(definition, can_manage, upcoming_occurrences(definition))


def upcoming_occurrences(definition: ReviewDefinition, limit: int = UPCOMING):
    """The series' next occurrences, from the next unstarted one; none once it has ended."""
    if definition.status == SeriesStatus.ENDED:
        return []
    plan = definition.schedule()
    return schedule.occurrences(plan, definition.next_occurrence_index, limit)
