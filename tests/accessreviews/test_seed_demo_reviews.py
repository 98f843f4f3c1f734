"""seed_demo_reviews: running reviews for the demo personas, started through the services."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accessreviews.models import ReviewDefinition, ReviewerAssignment, ReviewInstance
from accessreviews.models.instances import InstanceStatus

pytestmark = pytest.mark.django_db


def test_the_demo_gets_running_reviews_for_the_owner_and_the_reviewer_once():
    call_command("seed_demo")
    call_command("seed_demo_reviews")
    assert ReviewDefinition.objects.count() == 3
    assert set(ReviewInstance.objects.values_list("status", flat=True)) == {
        InstanceStatus.IN_PROGRESS
    }
    reviewers = set(
        ReviewerAssignment.objects.values_list("reviewer__user_principal_name", flat=True)
    )
    assert {"oscar.owner@contoso.example", "rob.reviewer@contoso.example"} <= reviewers
    call_command("seed_demo_reviews")  # a second run adds nothing
    assert ReviewInstance.objects.count() == 3


def test_without_the_demo_organisation_it_says_what_to_run_first():
    with pytest.raises(CommandError, match="Run seed_demo first"):
        call_command("seed_demo_reviews")
