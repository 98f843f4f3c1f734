import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accessreviews.choices import ReviewerType, ScopeType, SeriesStatus
from accessreviews.drafts import StageDraft
from accessreviews.models import ReviewDefinition
from accessreviews.permissions import definitions_visible_to, may_manage_scope
from accessreviews.services import definitions as svc
from directory.models import AuditEvent, BuiltinRole, TenantSettings
from tests.accessreviews.factories import group_review_draft
from tests.factories import ApplicationFactory, GroupFactory, UserFactory, assign_role

pytestmark = pytest.mark.django_db

UTC = dt.UTC
BEFORE_START = dt.datetime(2026, 11, 27, 12, tzinfo=UTC)


def actions():
    return list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))


def test_creating_a_series_saves_it_with_its_first_occurrence_and_audits(admin_user, owned_group):
    draft = group_review_draft(
        [owned_group],
        stages=[
            StageDraft(duration_days=7),
            StageDraft(reviewer_type=ReviewerType.MANAGERS, duration_days=7),
        ],
    )

    definition = svc.definition_create(admin_user, draft, now=BEFORE_START)

    definition.refresh_from_db()
    assert definition.status == SeriesStatus.ACTIVE and definition.created_by == admin_user
    assert list(definition.groups.all()) == [owned_group]
    assert [s.reviewer_type for s in definition.stages.all()] == ["groupOwners", "managers"]
    assert definition.duration_days == 14
    # 1 Dec 2026 09:00 in Paris is 08:00 UTC.
    assert definition.next_occurrence_at == dt.datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert actions() == ["definition.created"]


def test_an_invalid_draft_saves_nothing(admin_user, owned_group):
    with pytest.raises(ValidationError) as error:
        svc.definition_create(admin_user, group_review_draft([owned_group], name=""))
    assert "name" in error.value.message_dict
    assert not ReviewDefinition.objects.exists()


def test_an_application_without_assignment_required_is_refused(admin_user):
    app = ApplicationFactory(assignment_required=False, name="Intranet")
    draft = group_review_draft(
        [],
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[app.pk],
        stages=[StageDraft(reviewer_type=ReviewerType.SELF)],
    )
    with pytest.raises(ValidationError, match="Intranet does not require assignment"):
        svc.definition_create(admin_user, draft)


@pytest.mark.parametrize(
    "role, scope, allowed",
    [
        (BuiltinRole.GLOBAL_ADMINISTRATOR, ScopeType.ROLE_ASSIGNEES, True),
        (BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR, ScopeType.GROUP_MEMBERS, True),
        (BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR, ScopeType.APPLICATION_ASSIGNEES, True),
        (BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR, ScopeType.ROLE_ASSIGNEES, False),
        (BuiltinRole.USER_ADMINISTRATOR, ScopeType.ALL_GROUPS_WITH_GUESTS, True),
        (BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR, ScopeType.ROLE_ASSIGNEES, True),
        (BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR, ScopeType.GROUP_MEMBERS, False),
        (BuiltinRole.GLOBAL_READER, ScopeType.GROUP_MEMBERS, False),
    ],
)
def test_who_may_define_which_scope(role, scope, allowed):
    user, group = UserFactory(), GroupFactory()
    assign_role(role, user=user)
    assert may_manage_scope(user, scope, [group.pk]) is allowed


def test_group_owners_define_reviews_of_their_own_groups_only_while_allowed(
    group_owner, owned_group
):
    other = GroupFactory()
    assert may_manage_scope(group_owner, ScopeType.GROUP_MEMBERS, [owned_group.pk])
    assert not may_manage_scope(group_owner, ScopeType.GROUP_MEMBERS, [owned_group.pk, other.pk])
    assert not may_manage_scope(group_owner, ScopeType.ALL_GROUPS_WITH_GUESTS)
    TenantSettings.objects.filter(pk=1).update(group_owners_can_manage_reviews=False)
    group_owner._capabilities = None
    assert not may_manage_scope(group_owner, ScopeType.GROUP_MEMBERS, [owned_group.pk])


def test_a_refused_creation_is_audited_and_saves_nothing(reader, owned_group):
    with pytest.raises(PermissionDenied):
        svc.definition_create(reader, group_review_draft([owned_group]))
    assert not ReviewDefinition.objects.exists()
    assert actions() == ["authz.denied.definition_create"]


def test_owners_see_their_groups_series_and_readers_see_all(
    admin_user, group_owner, reader, outsider, owned_group
):
    mine = svc.definition_create(admin_user, group_review_draft([owned_group]))
    svc.definition_create(admin_user, group_review_draft([GroupFactory()], name="Other"))
    assert list(definitions_visible_to(group_owner)) == [mine]
    assert definitions_visible_to(reader).count() == 2
    assert not definitions_visible_to(outsider).exists()


class TestSeriesLifecycle:
    @pytest.fixture
    def series(self, admin_user, owned_group):
        return svc.definition_create(
            admin_user, group_review_draft([owned_group]), now=BEFORE_START
        )

    def test_pause_and_resume_skip_what_fell_in_the_pause(self, admin_user, series):
        svc.definition_pause(admin_user, series)
        assert series.status == SeriesStatus.PAUSED
        assert not ReviewDefinition.objects.due(dt.datetime(2027, 1, 1, tzinfo=UTC)).exists()

        svc.definition_resume(admin_user, series, now=dt.datetime(2027, 2, 10, tzinfo=UTC))

        series.refresh_from_db()
        assert series.status == SeriesStatus.ACTIVE
        assert series.next_occurrence_at == dt.datetime(2027, 3, 1, 8, tzinfo=UTC)
        resumed = AuditEvent.objects.get(action="definition.resumed")
        assert resumed.details == {"skipped_occurrences": 3}

    def test_only_a_paused_series_resumes(self, admin_user, series):
        with pytest.raises(ValidationError):
            svc.definition_resume(admin_user, series)

    def test_an_ended_series_has_no_next_occurrence_and_cannot_change(
        self, admin_user, series, owned_group
    ):
        svc.definition_end(admin_user, series)
        assert series.status == SeriesStatus.ENDED and series.next_occurrence_at is None
        with pytest.raises(ValidationError):
            svc.definition_update(admin_user, series, group_review_draft([owned_group]))

    def test_a_series_that_never_started_can_be_deleted(self, admin_user, series):
        svc.definition_delete(admin_user, series)
        assert not ReviewDefinition.objects.exists()
        assert actions()[-1] == "definition.deleted"

    def test_a_started_series_is_evidence_and_cannot_be_deleted(self, admin_user, series):
        ReviewDefinition.objects.filter(pk=series.pk).update(next_occurrence_index=1)
        series.refresh_from_db()
        with pytest.raises(ValidationError, match="evidence"):
            svc.definition_delete(admin_user, series)
        assert ReviewDefinition.objects.filter(pk=series.pk).exists()

    def test_editing_recomputes_the_next_occurrence_and_audits_before_and_after(
        self, admin_user, series, owned_group
    ):
        draft = group_review_draft([owned_group], start_date=dt.date(2027, 1, 15), name="Renamed")
        svc.definition_update(admin_user, series, draft, now=BEFORE_START)
        series.refresh_from_db()
        assert series.name == "Renamed"
        assert series.next_occurrence_at == dt.datetime(2027, 1, 15, 8, tzinfo=UTC)
        event = AuditEvent.objects.get(action="definition.updated")
        assert event.details["before"]["name"] == "Monthly review"
        assert event.details["after"]["name"] == "Renamed"

    def test_a_reader_may_not_manage_a_series(self, reader, series):
        with pytest.raises(PermissionDenied):
            svc.definition_pause(reader, series)
        assert actions()[-1] == "authz.denied.definition_paused"

    def test_the_tick_query_finds_due_active_series(self, series):
        due = ReviewDefinition.objects.due(dt.datetime(2026, 12, 1, 8, 0, 1, tzinfo=UTC))
        assert list(due) == [series]
