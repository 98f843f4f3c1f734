"""Running demo reviews on top of seed_demo's organisation, so every persona has something to do.

The reviews go through the same services as the portal (definition_create, then Start now and
the tick's start), so the demo shows exactly what a real start produces. Idempotent: it does
nothing once any review exists.
"""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accessreviews.choices import DefaultDecision, ReviewerType, ScopeType
from accessreviews.drafts import DefinitionDraft, StageDraft
from accessreviews.models import ReviewDefinition
from accessreviews.schedule import Recurrence
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import definition_start_now, instances_start_due
from directory.demo import DOMAIN
from directory.models import Application, Group, User


def demo_drafts(today: datetime.date, start_time: datetime.time) -> list[DefinitionDraft]:
    groups = dict(
        Group.objects.filter(name__in=["Project Falcon", "Finance Team"]).values_list("name", "pk")
    )
    netsuite = Application.objects.filter(name="NetSuite").values_list("pk", flat=True).first()
    when = {"time_zone": "UTC", "start_date": today, "start_time": start_time}
    drafts = []
    if "Project Falcon" in groups:
        drafts.append(
            DefinitionDraft(
                name="Project Falcon: quarterly member review",
                description_for_reviewers="Keep only the people still working on Project Falcon.",
                group_ids=[groups["Project Falcon"]],
                recurrence=Recurrence.QUARTERLY,
                stages=[StageDraft(reviewer_type=ReviewerType.GROUP_OWNERS, duration_days=14)],
                default_decision=DefaultDecision.RECOMMENDATION,
                **when,
            )
        )
    if netsuite:
        drafts.append(
            DefinitionDraft(
                name="NetSuite: monthly access review",
                description_for_reviewers="Finance data: confirm each person still needs NetSuite.",
                scope_type=ScopeType.APPLICATION_ASSIGNEES,
                application_ids=[netsuite],
                recurrence=Recurrence.MONTHLY,
                stages=[StageDraft(reviewer_type=ReviewerType.APPLICATION_OWNERS, duration_days=7)],
                justification_required=True,
                **when,
            )
        )
    if "Finance Team" in groups:
        drafts.append(
            DefinitionDraft(
                name="Finance Team: managers confirm their reports",
                group_ids=[groups["Finance Team"]],
                stages=[StageDraft(reviewer_type=ReviewerType.MANAGERS, duration_days=10)],
                **when,
            )
        )
    return drafts


class Command(BaseCommand):
    help = "Start demo reviews for seed_demo's organisation (does nothing once a review exists)."

    def handle(self, *args, **options):
        if ReviewDefinition.objects.exists():
            self.stdout.write("Demo reviews: reviews exist already, nothing to do.")
            return
        admin = User.objects.filter(user_principal_name__iexact=f"alice.admin@{DOMAIN}").first()
        if admin is None:
            raise CommandError("Run seed_demo first: the demo administrator is missing.")
        now = timezone.now()
        # The series start at the next whole hour today (a start may not be in the past), and
        # Start now opens their first occurrence at once, as an admin would from the series page.
        next_hour = (now + datetime.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        if next_hour.date() != now.date():
            next_hour = now.replace(hour=23, minute=59, second=0, microsecond=0)
        started = 0
        for draft in demo_drafts(now.date(), next_hour.time()):
            definition = definition_create(admin, draft, now=now)
            started += definition_start_now(admin, definition, now=now)
        counts = instances_start_due(timezone.now())
        self.stdout.write(
            f"Demo reviews: {started} running reviews, {counts.instances} started now "
            "(sign in as oscar.owner or rob.reviewer and open My reviews)."
        )
