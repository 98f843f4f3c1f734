"""Reads behind the access panel: "My reviews" and one reviewer's page of one stage.

A reviewer sees an item only through their own ItemReviewer link (DESIGN.md "Who may do
what"): every read here starts from the caller's links or assignments, whatever their roles.
The review page pages by keyset over ItemReviewer (stage, reviewer, sort key, item), with an
opaque signed cursor, and reads progress from ReviewerAssignment, so its query count does not
grow with the number of items.
"""

import datetime
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from accessreviews.choices import Decision, ReviewerType
from accessreviews.models import (
    DecisionItem,
    ItemReviewer,
    ItemStageHistory,
    ReviewerAssignment,
    ReviewStage,
)
from accessreviews.models.instances import (
    InstanceStatus,
    Recommendation,
    ReviewerReason,
    StageStatus,
)
from directory.models import AccessPath, PrincipalType, User, UserType

PAGE_SIZE = 50
PAST_SHOWN = 50
SEARCH_MAX = 200
CURSOR_SALT = "accessreviews.panel.cursor"


# --- "My reviews" ------------------------------------------------------------------------------


def _is_open() -> Q:
    return Q(
        stage__status=StageStatus.IN_PROGRESS, stage__instance__status=InstanceStatus.IN_PROGRESS
    )


def my_assignments(user) -> tuple[list[ReviewerAssignment], list[ReviewerAssignment]]:
    """(open stages where I have items, soonest due first; past ones, latest first)."""
    mine = ReviewerAssignment.objects.filter(reviewer=user).select_related("stage__instance")
    open_ = list(mine.filter(_is_open()).order_by("stage__end_at", "pk"))
    past = list(mine.exclude(_is_open()).order_by("-stage__end_at", "-pk")[:PAST_SHOWN])
    return open_, past


def my_reviews_summary(user) -> dict:
    """For the home page, in one query: how many open reviews I have, and items pending."""
    return ReviewerAssignment.objects.filter(_is_open(), reviewer=user).aggregate(
        reviews=Count("pk"), pending=Coalesce(Sum("pending"), 0)
    )


def floor_percent(part: int, whole: int, *, empty: int = 100) -> int:
    """`part` of `whole` in whole percent, floored so that 100% means all of it (199 of 200 is
    99%, never a rounded-up 100% with one person left); `empty` when there is no whole."""
    return empty if not whole else (100 * part) // whole


@dataclass(frozen=True)
class Progress:
    total: int
    pending: int

    @classmethod
    def of(cls, assignment: ReviewerAssignment) -> "Progress":
        return cls(assignment.total, assignment.pending)

    @property
    def decided(self) -> int:
        return self.total - self.pending

    @property
    def percent(self) -> int:
        return floor_percent(self.decided, self.total)  # nothing to review: all done


def days_left(due: datetime.datetime, zone: str, now: datetime.datetime | None = None) -> int:
    """Calendar days from today to the due date, both in `zone` (0 = due today)."""
    tz = zoneinfo.ZoneInfo(zone)
    now = now or timezone.now()
    return (due.astimezone(tz).date() - now.astimezone(tz).date()).days


# --- Filters and the cursor --------------------------------------------------------------------


@dataclass(frozen=True)
class PanelFilter:
    status: str = ""  # "pending" | "decided" (in this stage)
    recommendation: str = ""
    user_type: str = ""
    path: str = ""
    q: str = ""

    STATUSES = {"pending": "Pending", "decided": "Decided"}
    PARAMS = ("status", "recommendation", "user_type", "path", "q")

    @classmethod
    def from_params(cls, params: Mapping) -> "PanelFilter":
        def choice(name, allowed):
            value = params.get(name, "")
            return value if value in allowed else ""

        return cls(
            status=choice("status", cls.STATUSES),
            recommendation=choice("recommendation", Recommendation.values),
            user_type=choice("user_type", UserType.values),
            path=choice("path", AccessPath.values),
            q=params.get("q", "").strip()[:SEARCH_MAX],
        )

    @classmethod
    def from_post(cls, params: Mapping) -> "PanelFilter":
        """from_params for a decision on "all matching": a value it would drop (unknown, or a
        search cut short) is refused, naming the field, since dropping it would widen the
        decision to people the page never showed."""
        filters = cls.from_params(params)
        wrong = {
            name: ["Not one of the choices; reload the page and filter again."]
            for name in cls.PARAMS
            if name != "q" and params.get(name, "") and not getattr(filters, name)
        }
        if len(params.get("q", "").strip()) > SEARCH_MAX:
            wrong["q"] = [f"At most {SEARCH_MAX} characters."]
        if wrong:
            raise ValidationError(wrong)
        return filters

    @property
    def is_set(self) -> bool:
        return any(getattr(self, name) for name in self.PARAMS)

    def as_params(self) -> dict:
        return {name: getattr(self, name) for name in self.PARAMS if getattr(self, name)}

    def item_q(self, prefix: str = "") -> Q:
        """The filter over DecisionItem (prefix "item__" from ItemReviewer): the same Q the
        page lists with and "all matching" hands to the decision service."""
        p = prefix
        condition = Q()
        if self.status == "pending":
            condition &= Q(**{f"{p}stage_decision": Decision.NOT_REVIEWED})
        elif self.status == "decided":
            condition &= ~Q(**{f"{p}stage_decision": Decision.NOT_REVIEWED})
        if self.recommendation:
            condition &= Q(**{f"{p}recommendation": self.recommendation})
        if self.user_type:
            condition &= Q(**{f"{p}principal_user_type": self.user_type})
        if self.path:
            condition &= Q(**{f"{p}access_path": self.path})
        if self.q:
            condition &= (
                Q(**{f"{p}principal_name__icontains": self.q})
                | Q(**{f"{p}principal_upn__icontains": self.q})
                | Q(**{f"{p}principal_email__icontains": self.q})
            )
        return condition


AFTER, BEFORE = "a", "b"


@dataclass(frozen=True)
class Cursor:
    direction: str
    sort_key: str
    item_id: int

    def dumps(self, scope: str) -> str:
        return signing.dumps([self.direction, self.sort_key, self.item_id], salt=_salt(scope))

    @classmethod
    def loads(cls, value: str, scope: str) -> "Cursor | None":
        """The cursor, or None for a missing, tampered or foreign one (the first page)."""
        if not value:
            return None
        try:
            direction, sort_key, item_id = signing.loads(value, salt=_salt(scope))
        except (signing.BadSignature, TypeError, ValueError):
            return None
        if direction not in (AFTER, BEFORE) or not isinstance(sort_key, str):
            return None
        if not isinstance(item_id, int):
            return None
        return cls(direction, sort_key, item_id)


def _salt(scope: str) -> str:
    # Bound to one (stage, reviewer): a cursor copied into another panel is simply ignored.
    return f"{CURSOR_SALT}:{scope}"


# --- The review page ---------------------------------------------------------------------------


@dataclass
class Row:
    link: ItemReviewer
    earlier: list[ItemStageHistory] = field(default_factory=list)
    this_stage: ItemStageHistory | None = None  # a closed stage's own record
    look_back_days: int = 30

    @property
    def item(self) -> DecisionItem:
        return self.link.item

    @property
    def department(self) -> str:
        return self.link.department or ""

    @property
    def manager(self) -> str:
        return self.link.manager_name or ""

    @property
    def decided(self):
        """(decision, source, by, at, justification) this stage recorded, NotReviewed if none."""
        record = self.this_stage
        if record is not None:
            return record
        item = self.item
        if item.stage_ordinal == self.link.stage.ordinal:
            return _Decided(
                item.stage_decision,
                item.decision_source,
                item.reviewed_by if item.stage_decision != Decision.NOT_REVIEWED else None,
                item.reviewed_at if item.stage_decision != Decision.NOT_REVIEWED else None,
                item.justification if item.stage_decision != Decision.NOT_REVIEWED else "",
            )
        return _Decided(Decision.NOT_REVIEWED, "", None, None, "")

    @property
    def is_pending(self) -> bool:
        return self.decided.decision == Decision.NOT_REVIEWED

    @property
    def answers_for_self(self) -> bool:
        """My own access, in a self-review: asked as "do you need it?". An item reassigned to
        me in a self-review is someone else's access, decided with the usual words."""
        return self.link.reason == ReviewerReason.SELF

    @property
    def sign_in_days(self) -> int | None:
        at = self.item.last_sign_in_at
        return None if at is None else max(0, (timezone.now() - at).days)

    @property
    def recommendation_reason(self) -> str:
        """The recommendation's reason in words: 'no sign-in for 74 days'."""
        item, days = self.item, self.sign_in_days
        if item.principal_type == PrincipalType.GROUP:
            return "groups do not sign in"
        if item.recommendation == Recommendation.APPROVE:
            return "signed in today" if days == 0 else f"signed in {_days(days)} ago"
        if item.recommendation == Recommendation.DENY:
            return "never signed in" if days is None else f"no sign-in for {_days(days)}"
        return f"account created within the last {_days(self.look_back_days)}"


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


@dataclass(frozen=True)
class _Decided:
    decision: str
    decision_source: str
    reviewed_by: User | None
    reviewed_at: datetime.datetime | None
    justification: str


@dataclass
class Panel:
    """One reviewer's share of one stage, as the page shows it."""

    assignment: ReviewerAssignment
    filters: PanelFilter = field(default_factory=PanelFilter)
    rows: list[Row] = field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""

    @property
    def stage(self) -> ReviewStage:
        return self.assignment.stage

    @property
    def instance(self):
        return self.stage.instance

    @cached_property
    def spec(self) -> dict:
        stages = self.instance.settings_snapshot.get("stages") or []
        return next((s for s in stages if s.get("ordinal") == self.stage.ordinal), {})

    @cached_property
    def settings(self) -> dict:
        return self.instance.settings_snapshot.get("settings") or {}

    @property
    def name(self) -> str:
        return self.settings.get("name") or self.instance.resource_name

    @property
    def stage_count(self) -> int:
        return len(self.instance.settings_snapshot.get("stages") or []) or 1

    @property
    def is_open(self) -> bool:
        return (
            self.stage.status == StageStatus.IN_PROGRESS
            and self.instance.status == InstanceStatus.IN_PROGRESS
        )

    @property
    def is_past_stage(self) -> bool:
        """Closed while the review goes on in a later stage: read-only (403 on a decision)."""
        return (
            not self.is_open
            and self.instance.status == InstanceStatus.IN_PROGRESS
            and self.stage.ordinal < (self.instance.current_stage or 0)
        )

    @property
    def is_self_review(self) -> bool:
        return self.spec.get("reviewer_type") == ReviewerType.SELF

    @property
    def shows_earlier(self) -> bool:
        return self.stage.ordinal > 1 and bool(self.spec.get("show_earlier_decisions"))

    @property
    def shows_recommendations(self) -> bool:
        # A person answering for themselves is asked, not told what the sign-ins suggest.
        return not self.is_self_review and bool(self.spec.get("recommendations_enabled", True))

    @property
    def look_back_days(self) -> int:
        return int(self.settings.get("recommendation_look_back_days") or 30)

    @property
    def justification_required(self) -> bool:
        return bool(self.settings.get("justification_required"))

    @property
    def progress(self) -> Progress:
        return Progress.of(self.assignment)

    @property
    def cursor_scope(self) -> str:
        return cursor_scope(self.assignment)


def cursor_scope(assignment: ReviewerAssignment) -> str:
    return f"{assignment.stage_id}:{assignment.reviewer_id}"


def assignment_for(user, instance_uuid, ordinal: int) -> ReviewerAssignment:
    """My assignment in this stage, with the stage and instance; Http404 if I have none."""
    assignment = (
        ReviewerAssignment.objects.select_related("stage__instance")
        .filter(reviewer=user, stage__instance__uuid=instance_uuid, stage__ordinal=ordinal)
        .first()
    )
    if assignment is None:
        raise Http404("No review of yours here.")
    return assignment


def _principal_field(name: str):
    # principal_id is a user's or a group's id: only users have a department and a manager.
    user = User.objects.filter(pk=OuterRef("item__principal_id")).values(name)[:1]
    return Case(
        When(item__principal_type=PrincipalType.USER, then=Subquery(user)),
        default=Value(""),
        output_field=CharField(),
    )


def _links(assignment: ReviewerAssignment) -> QuerySet:
    return (
        ItemReviewer.objects.filter(
            stage_id=assignment.stage_id, reviewer_id=assignment.reviewer_id
        )
        .select_related("item", "item__reviewed_by")
        .annotate(
            department=_principal_field("department"),
            manager_name=_principal_field("manager__display_name"),
        )
    )


def _attach_history(panel: Panel, rows: list[Row]) -> None:
    """Earlier stages' decisions (when the stage shows them) and a closed stage's own record."""
    ordinal = panel.stage.ordinal
    wanted = ordinal if not panel.is_open else ordinal - 1
    if not rows or wanted < 1 or (ordinal == 1 and panel.is_open):
        return
    by_item = {row.item.pk: row for row in rows}
    records = (
        ItemStageHistory.objects.filter(item_id__in=by_item, stage_ordinal__lte=wanted)
        .select_related("reviewed_by")
        .order_by("item_id", "stage_ordinal")
    )
    for record in records:
        row = by_item[record.item_id]
        if record.stage_ordinal == ordinal:
            row.this_stage = record
        elif panel.shows_earlier:
            row.earlier.append(record)


def panel_page(assignment: ReviewerAssignment, filters: PanelFilter, cursor: Cursor | None):
    """One page of my items in this stage, by name, from the cursor."""
    panel = Panel(assignment, filters)
    links = _links(assignment).filter(filters.item_q("item__"))
    if cursor is None:
        page = list(links.order_by("sort_key", "item_id")[: PAGE_SIZE + 1])
        has_prev, has_next = False, len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
    elif cursor.direction == AFTER:
        after = Q(sort_key__gt=cursor.sort_key) | Q(
            sort_key=cursor.sort_key, item_id__gt=cursor.item_id
        )
        page = list(links.filter(after).order_by("sort_key", "item_id")[: PAGE_SIZE + 1])
        has_prev, has_next = True, len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
    else:
        before = Q(sort_key__lt=cursor.sort_key) | Q(
            sort_key=cursor.sort_key, item_id__lt=cursor.item_id
        )
        page = list(links.filter(before).order_by("-sort_key", "-item_id")[: PAGE_SIZE + 1])
        has_prev, has_next = len(page) > PAGE_SIZE, True
        page = page[:PAGE_SIZE][::-1]
    for link in page:
        link.stage = assignment.stage  # the row reads its stage's ordinal: no query
    panel.rows = [Row(link, look_back_days=panel.look_back_days) for link in page]
    _attach_history(panel, panel.rows)
    scope = panel.cursor_scope
    if page and has_next:
        panel.next_cursor = Cursor(AFTER, page[-1].sort_key, page[-1].item_id).dumps(scope)
    if page and has_prev:
        panel.prev_cursor = Cursor(BEFORE, page[0].sort_key, page[0].item_id).dumps(scope)
    return panel


def panel_row(assignment: ReviewerAssignment, item_id: int) -> Row:
    """One row of my page, re-read after a decision (the htmx swap). The same query re-reads
    my counters onto `assignment`, which the decision has just moved."""
    mine = ReviewerAssignment.objects.filter(pk=assignment.pk)
    link = (
        _links(assignment)
        .annotate(
            my_total=Subquery(mine.values("total")), my_pending=Subquery(mine.values("pending"))
        )
        .get(item_id=item_id)
    )
    assignment.total, assignment.pending = link.my_total, link.my_pending
    panel = Panel(assignment)
    link.stage = assignment.stage
    row = Row(link, look_back_days=panel.look_back_days)
    _attach_history(panel, [row])
    return row


# --- One item, for a decision --------------------------------------------------------------------


def item_for(user, instance_uuid, item_uuid, ordinal: int) -> DecisionItem:
    """The item, if I have a link to it in any stage or decided it myself; else Http404.
    `linked_here`: whether I have a link to it in stage `ordinal` (one query for both)."""
    mine = ItemReviewer.objects.filter(item_id=OuterRef("pk"), reviewer=user)
    item = (
        DecisionItem.objects.filter(Exists(mine) | Q(reviewed_by=user))
        .filter(instance__uuid=instance_uuid, uuid=item_uuid)
        .annotate(linked_here=Exists(mine.filter(stage__ordinal=ordinal)))
        .first()
    )
    if item is None:
        raise Http404("No item of yours here.")
    return item
