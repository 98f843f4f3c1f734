import datetime as dt

from accessreviews.drafts import DefinitionDraft, StageDraft
from accessreviews.schedule import Recurrence


def group_review_draft(groups, **changes) -> DefinitionDraft:
    """A valid monthly review of these groups' members by their owners."""
    values = dict(
        name="Monthly review",
        group_ids=[g.pk for g in groups],
        time_zone="Europe/Paris",
        start_date=dt.date(2026, 12, 1),
        start_time=dt.time(9, 0),
        recurrence=Recurrence.MONTHLY,
        stages=[StageDraft(duration_days=14)],
    )
    values.update(changes)
    return DefinitionDraft(**values)
