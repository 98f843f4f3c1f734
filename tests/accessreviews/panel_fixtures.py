"""Shared by the access panel's tests: a frozen clock, people, and a started review."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from accessreviews.models import DecisionItem, ReviewInstance, ReviewStage
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from tests.accessreviews.factories import group_review_draft
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

pytestmark = pytest.mark.django_db

UTC = dt.UTC
CREATED = dt.datetime(2025, 1, 1, tzinfo=UTC)
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = START + dt.timedelta(hours=1)
RECENT = START - dt.timedelta(days=2)
STALE = START - dt.timedelta(days=74)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def person(name, **fields):
    fields.setdefault("created_at", CREATED)
    fields.setdefault("last_sign_in_at", RECENT)
    return UserFactory(display_name=name, **fields)


def start(actor, group, **changes) -> ReviewStage:
    definition = definition_create(actor, group_review_draft([group], **changes), now=BEFORE)
    instances_start_due(NOW)
    instance = ReviewInstance.objects.get(definition=definition)
    return ReviewStage.objects.select_related("instance").get(instance=instance, ordinal=1)


def panel_url(stage, ordinal=None):
    return reverse(
        "accessreviews:review-panel",
        kwargs={"uuid": stage.instance.uuid, "ordinal": ordinal or stage.ordinal},
    )


def item_of(stage, user) -> DecisionItem:
    return DecisionItem.objects.get(instance_id=stage.instance_id, principal_id=user.pk)


@pytest.fixture
def people():
    boss = person("Mona Manager")
    return {
        "alice": person("Alice Active", department="Sales", manager=boss, email="alice@x.example"),
        "bob": person("Bob Stale", last_sign_in_at=STALE, user_type="Guest"),
        "carol": person("Carol New", created_at=START - dt.timedelta(days=5), last_sign_in_at=None),
    }


@pytest.fixture
def review(admin_user, reviewer, other_reviewer, people):
    """Falcon: Alice (Approve), Bob (Deny), Carol (NoInfoAvailable), reviewed by its owners
    Rob (the `reviewer` persona) and Olga (`other_reviewer`)."""
    group = GroupFactory(name="Falcon")
    add_members(group, *people.values())
    add_owners(group, reviewer, other_reviewer)
    return start(admin_user, group, description_for_reviewers="Keep only Falcon staff.")
