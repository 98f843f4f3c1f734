"""The review engine's tables keep their invariants in the database (DESIGN.md's schema)."""

import datetime as dt
import uuid

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    InstanceStatus,
    ItemReviewer,
    Recommendation,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
    StageStatus,
)
from accessreviews.services.definitions import definition_create
from directory import audit
from tests.accessreviews.factories import group_review_draft
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)


@pytest.fixture
def instance(admin_user, owned_group):
    definition = definition_create(admin_user, group_review_draft([owned_group]))
    return ReviewInstance.objects.create(
        definition=definition,
        resource_type="group",
        resource_id=owned_group.pk,
        resource_name=owned_group.name,
        occurrence_index=0,
        occurrence_start=START,
        start_at=START,
        end_at=START + dt.timedelta(days=14),
        status=InstanceStatus.IN_PROGRESS,
    )


@pytest.fixture
def stage(instance):
    return ReviewStage.objects.create(
        instance=instance,
        ordinal=1,
        start_at=instance.start_at,
        end_at=instance.end_at,
        status=StageStatus.IN_PROGRESS,
    )


def item(instance, person, **fields):
    return DecisionItem.objects.create(
        instance=instance,
        principal_type="user",
        principal_id=person.pk,
        principal_name=person.display_name,
        sort_key=person.display_name.casefold(),
        access_path="direct",
        recommendation=Recommendation.APPROVE,
        **fields,
    )


def refused(create, error=IntegrityError):
    with pytest.raises(error), transaction.atomic():
        create()


def test_one_instance_per_resource_and_occurrence(instance):
    refused(
        lambda: ReviewInstance.objects.create(
            definition=instance.definition,
            resource_type="group",
            resource_id=instance.resource_id,
            resource_name="again",
            occurrence_index=0,
            occurrence_start=START,
            start_at=START,
            end_at=instance.end_at,
        )
    )


def test_an_instance_ends_after_it_starts(instance):
    refused(lambda: ReviewInstance.objects.filter(pk=instance.pk).update(end_at=START))


def test_one_open_stage_per_instance(stage):
    refused(
        lambda: ReviewStage.objects.create(
            instance=stage.instance,
            ordinal=2,
            start_at=START,
            end_at=stage.end_at,
            status=StageStatus.IN_PROGRESS,
        )
    )


def test_one_item_per_principal(instance, reviewer):
    item(instance, reviewer)
    refused(lambda: item(instance, reviewer))


def test_an_unknown_decision_is_refused(instance, reviewer):
    refused(lambda: item(instance, reviewer, decision="Maybe"))


def test_pending_stays_between_zero_and_total(stage, reviewer):
    assignment = ReviewerAssignment.objects.create(
        stage=stage, reviewer=reviewer, total=2, pending=2
    )
    refused(lambda: ReviewerAssignment.objects.filter(pk=assignment.pk).update(pending=3))


def test_a_reviewer_links_an_item_once_per_stage(stage, reviewer, outsider):
    decision_item = item(stage.instance, outsider)
    link = dict(
        stage=stage,
        reviewer=reviewer,
        sort_key=decision_item.sort_key,
        item=decision_item,
        reason="owner",
    )
    ItemReviewer.objects.create(**link)
    refused(lambda: ItemReviewer.objects.create(**link))


def test_decision_history_is_append_only_and_digested_into_its_audit_event(instance, reviewer):
    decision_item = item(instance, reviewer)
    operation = uuid.uuid4()
    DecisionHistory.objects.create(
        item=decision_item,
        stage_ordinal=1,
        before="NotReviewed",
        after="Approve",
        source="Reviewer",
        actor=reviewer,
        at=START,
        audit_operation=operation,
    )
    event = audit.record(
        reviewer,
        "decision.recorded",
        decision_item,
        operation=operation,
        source="accessreviews.DecisionHistory",
    )
    assert event.detail_count == 1 and audit.verify_chain().ok

    refused(lambda: DecisionHistory.objects.update(after="Deny"), DatabaseError)
    refused(lambda: DecisionHistory.objects.all().delete(), DatabaseError)


def test_evidence_protects_the_people_it_names(instance):
    person = UserFactory()
    item(instance, person, reviewed_by=person)
    # Users are tombstoned, never deleted; the PROTECT foreign key backs that up.
    from django.db.models import ProtectedError
    from django.db.models.deletion import Collector

    with pytest.raises(ProtectedError):
        Collector(using="default").collect([person])
