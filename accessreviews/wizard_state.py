"""The wizard's draft, kept in the session between steps.

Each wizard has its own id (in the URL and a hidden field), so two tabs creating two reviews
never overwrite each other's draft. Only JSON-safe values go into the session.
"""

import dataclasses
import datetime
import re
import secrets

from accessreviews.drafts import DefinitionDraft, StageDraft

SESSION_KEY = "review_wizards"
# Wizard id -> uuid of the series it created, so a second tab or Back after Create finds it.
CREATED_KEY = "review_wizards_created"
# A person rarely has more than a few wizards open; older drafts are dropped first.
MAX_WIZARDS = 5
STEPS = ("scope", "reviewers", "schedule", "settings", "review")
DATE_FIELDS = ("start_date", "end_date")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")


def new_id() -> str:
    return secrets.token_urlsafe(8)


def draft_to_dict(draft: DefinitionDraft) -> dict:
    values = dataclasses.asdict(draft)
    for name in DATE_FIELDS:
        values[name] = values[name].isoformat() if values[name] else None
    values["start_time"] = draft.start_time.strftime("%H:%M")
    return values


def draft_from_dict(values: dict) -> DefinitionDraft:
    values = dict(values)
    known = {f.name for f in dataclasses.fields(StageDraft)}
    values["stages"] = [
        StageDraft(**{k: v for k, v in stage.items() if k in known})
        for stage in values.get("stages", [])
    ]
    for name in DATE_FIELDS:
        values[name] = datetime.date.fromisoformat(values[name]) if values.get(name) else None
    values["start_time"] = datetime.time.fromisoformat(values.get("start_time") or "09:00")
    known = {f.name for f in dataclasses.fields(DefinitionDraft)}
    return DefinitionDraft(**{k: v for k, v in values.items() if k in known})


@dataclasses.dataclass
class WizardState:
    """One wizard's draft, the furthest step reached, and whether the warning was acknowledged."""

    id: str
    draft: DefinitionDraft
    reached: int = 0
    # False for a wizard not in the session: new, or dropped (expired) since the tab saved it.
    stored: bool = False

    def step_allowed(self, step: str) -> bool:
        return step in STEPS and STEPS.index(step) <= self.reached

    def advance_to(self, step: str) -> None:
        self.reached = max(self.reached, STEPS.index(step))


def load(session, wizard_id: str | None, fresh: DefinitionDraft) -> WizardState:
    """The stored wizard, or a new one around `fresh` (stored only when saved, not on GET)."""
    wizard_id = wizard_id if wizard_id and ID_PATTERN.match(wizard_id) else None
    stored = session.get(SESSION_KEY, {}).get(wizard_id or "")
    if not stored:
        return WizardState(wizard_id or new_id(), fresh)
    return WizardState(
        wizard_id, draft_from_dict(stored["draft"]), stored.get("reached", 0), stored=True
    )


def save(session, state: WizardState) -> None:
    wizards = dict(session.get(SESSION_KEY, {}))
    wizards.pop(state.id, None)
    while len(wizards) >= MAX_WIZARDS:
        wizards.pop(next(iter(wizards)))
    wizards[state.id] = {"draft": draft_to_dict(state.draft), "reached": state.reached}
    session[SESSION_KEY] = wizards


def discard(session, state: WizardState, created_uuid=None) -> None:
    """Forget the draft; remember what it created (the last few) when it created something."""
    wizards = dict(session.get(SESSION_KEY, {}))
    if wizards.pop(state.id, None) is not None:
        session[SESSION_KEY] = wizards
    if created_uuid is not None:
        created = dict(session.get(CREATED_KEY, {}))
        while len(created) >= MAX_WIZARDS:
            created.pop(next(iter(created)))
        created[state.id] = str(created_uuid)
        session[CREATED_KEY] = created


def created_by(session, wizard_id: str | None) -> str | None:
    """The uuid of the series this wizard already created, if it did."""
    return session.get(CREATED_KEY, {}).get(wizard_id or "")


def draft_of(definition) -> DefinitionDraft:
    """A saved series as a draft, for the edit page."""
    from accessreviews.services.definitions import SCALAR_FIELDS

    values = {name: getattr(definition, name) for name in SCALAR_FIELDS}
    values.update(
        group_ids=sorted(g.pk for g in definition.groups.all()),
        excluded_group_ids=sorted(g.pk for g in definition.excluded_groups.all()),
        application_ids=sorted(a.pk for a in definition.applications.all()),
        role_ids=sorted(r.pk for r in definition.roles.all()),
        additional_recipient_ids=sorted(u.pk for u in definition.additional_recipients.all()),
        stages=[
            StageDraft(
                reviewer_type=s.reviewer_type,
                duration_days=s.duration_days,
                reviewer_user_ids=sorted(u.pk for u in s.reviewer_users.all()),
                reviewer_group_ids=sorted(g.pk for g in s.reviewer_groups.all()),
                fallback_user_ids=sorted(u.pk for u in s.fallback_users.all()),
                fallback_group_ids=sorted(g.pk for g in s.fallback_groups.all()),
                recommendations_enabled=s.recommendations_enabled,
                decisions_that_move_on=list(s.decisions_that_move_on),
                show_earlier_decisions=s.show_earlier_decisions,
            )
            for s in definition.stages.all()
        ],
    )
    return DefinitionDraft(**values)
