"""Step 2: reviewers and stages (1 to 3, each its own prefixed form)."""

import dataclasses

from crispy_forms.layout import Div, Fieldset, Layout
from django import forms
from django.utils.datastructures import MultiValueDict

from accessreviews.choices import MOVE_ON_ALL, MOVE_ON_CHOICES, ReviewerType, ScopeType
from accessreviews.drafts import DefinitionDraft, StageDraft, check_draft
from accessreviews.forms.base import ChooserField, StepForm, chooser
from accessreviews.models.definitions import MAX_STAGES

STAGE_FIELDS = (
    "reviewer_type",
    "reviewer_user_ids",
    "reviewer_group_ids",
    "fallback_user_ids",
    "fallback_group_ids",
    "duration_days",
    "recommendations_enabled",
    "decisions_that_move_on",
    "show_earlier_decisions",
)


def reviewer_choices(scope_type: str) -> list[tuple[str, str]]:
    """Owners review only the kind of resource they own."""
    hidden = set()
    if scope_type not in (ScopeType.GROUP_MEMBERS, ScopeType.ALL_GROUPS_WITH_GUESTS):
        hidden.add(ReviewerType.GROUP_OWNERS)
    if scope_type != ScopeType.APPLICATION_ASSIGNEES:
        hidden.add(ReviewerType.APPLICATION_OWNERS)
    return [(value, label) for value, label in ReviewerType.choices if value not in hidden]


class StageForm(StepForm):
    reviewer_type = forms.ChoiceField(label="Reviewers", widget=forms.RadioSelect)
    reviewer_user_ids = ChooserField("users", label="Selected users")
    reviewer_group_ids = ChooserField(
        "groups", label="Selected groups", help_text="Their members review (found at each start)."
    )
    fallback_user_ids = ChooserField(
        "users",
        label="Fallback users",
        help_text="Review items that have no eligible reviewer (no owner, no manager).",
    )
    fallback_group_ids = ChooserField("groups", label="Fallback groups")
    duration_days = forms.IntegerField(
        label="Duration (days)", widget=forms.NumberInput(attrs={"inputmode": "numeric"})
    )
    recommendations_enabled = forms.BooleanField(
        required=False, label="Show reviewers recommendations (based on recent sign-ins)"
    )
    decisions_that_move_on = forms.MultipleChoiceField(
        required=False,
        label="Which items go on to the next stage",
        choices=MOVE_ON_CHOICES,
        widget=forms.CheckboxSelectMultiple,
    )
    show_earlier_decisions = forms.BooleanField(
        required=False, label="Show this stage's reviewers the decisions of earlier stages"
    )

    def __init__(self, *args, stage: StageDraft, ordinal: int, is_last: bool, **kwargs):
        self.stage = stage
        self.ordinal = ordinal
        super().__init__(*args, prefix=f"s{ordinal}", **kwargs)
        choices = reviewer_choices(self.draft.scope_type)
        self.fields["reviewer_type"].choices = choices
        if self.initial.get("reviewer_type") not in dict(choices):
            self.initial["reviewer_type"] = choices[0][0]
        if is_last:
            del self.fields["decisions_that_move_on"]
        if ordinal == 1:
            del self.fields["show_earlier_decisions"]
        self.helper.layout = Layout(
            Fieldset(
                f"Stage {ordinal}",
                "reviewer_type",
                Div(
                    Div(chooser("reviewer_user_ids"), css_class="col-lg-6"),
                    Div(chooser("reviewer_group_ids"), css_class="col-lg-6"),
                    css_class="row when-selected",
                ),
                Div(
                    Div(chooser("fallback_user_ids"), css_class="col-lg-6"),
                    Div(chooser("fallback_group_ids"), css_class="col-lg-6"),
                    css_class="row",
                ),
                Div("duration_days", css_class="narrow"),
                "recommendations_enabled",
                *([] if is_last else ["decisions_that_move_on"]),
                *([] if ordinal == 1 else ["show_earlier_decisions"]),
            )
        )

    def initial_from(self, draft):
        return {name: getattr(self.stage, name) for name in STAGE_FIELDS}

    def stage_draft(self) -> StageDraft:
        values = {k: v for k, v in self.cleaned_data.items() if k in STAGE_FIELDS}
        values.setdefault("decisions_that_move_on", list(MOVE_ON_ALL))
        values.setdefault("show_earlier_decisions", True)
        if values.get("reviewer_type") != ReviewerType.SELECTED:
            values["reviewer_user_ids"] = values["reviewer_group_ids"] = []
        return StageDraft(**values)


class StagesForm:
    """The stages step: one StageForm per stage, plus the errors about the stages as a whole."""

    def __init__(self, data=None, *, user, draft: DefinitionDraft):
        self.data = data
        self.draft = draft
        self.is_bound = data is not None
        count = stage_count(data) if self.is_bound else len(draft.stages)
        self.non_field_errors = []
        self.forms = [
            StageForm(
                data,
                user=user,
                draft=draft,
                stage=draft.stages[n - 1] if n <= len(draft.stages) else StageDraft(),
                ordinal=n,
                is_last=n == count,
            )
            for n in range(1, count + 1)
        ]

    @property
    def can_add(self) -> bool:
        return len(self.forms) < MAX_STAGES

    def is_valid(self) -> bool:
        return all([form.is_valid() for form in self.forms])

    def apply(self, draft: DefinitionDraft) -> DefinitionDraft:
        return dataclasses.replace(draft, stages=[form.stage_draft() for form in self.forms])

    def validate_step(self) -> bool:
        if not self.is_valid():
            return False
        errors = check_draft(self.apply(self.draft))
        for key, messages in errors.items():
            parts = key.split(".")
            if parts[0] != "stages":
                continue
            if len(parts) == 3 and 1 <= int(parts[1]) <= len(self.forms):
                form = self.forms[int(parts[1]) - 1]
                for message in messages:
                    form.add_error(parts[2] if parts[2] in form.fields else None, message)
            else:
                self.non_field_errors.extend(messages)
        return not self.non_field_errors and not any(form.errors for form in self.forms)

    def quiet(self) -> None:
        for form in self.forms:
            form.quiet()


def stage_count(data) -> int:
    try:
        count = int(data.get("stage_count", 1))
    except (TypeError, ValueError):
        count = 1
    return min(max(count, 1), MAX_STAGES)


def with_stage_added(data, reviewer_type: str):
    """The submitted data with one more stage, with the defaults."""
    changed = data.copy()
    count = stage_count(data)
    changed["stage_count"] = str(min(count + 1, MAX_STAGES))
    if count < MAX_STAGES:
        new = StageDraft()
        prefix = f"s{count + 1}-"
        changed.setlist(prefix + "reviewer_type", [reviewer_type])
        changed.setlist(prefix + "duration_days", [str(new.duration_days)])
        changed.setlist(prefix + "recommendations_enabled", ["on"])
        changed.setlist(prefix + "show_earlier_decisions", ["on"])
    if count >= 1:
        # The stage that was last now has a next one: everything moves on unless changed.
        last = f"s{count}-decisions_that_move_on"
        if not changed.getlist(last):
            changed.setlist(last, list(MOVE_ON_ALL))
    return changed


def with_stage_removed(data, ordinal: int):
    """The submitted data without stage `ordinal`; later stages are renumbered."""
    count = stage_count(data)
    changed = MultiValueDict()
    for key, values in data.lists():
        search, bare = ("q_", key[2:]) if key.startswith("q_") else ("", key)
        prefix, _, rest = bare.partition("-")
        number = prefix[1:] if prefix.startswith("s") and rest else ""
        if not number.isdigit() or int(number) < ordinal:
            changed.setlist(key, values)
        elif int(number) > ordinal:
            changed.setlist(f"{search}s{int(number) - 1}-{rest}", values)
    changed["stage_count"] = str(max(count - 1, 1))
    return changed
