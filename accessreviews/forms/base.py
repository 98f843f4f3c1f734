"""What every step form shares: chooser fields, the draft it edits, and the draft's errors."""

import dataclasses

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field
from django import forms
from django.forms.utils import ErrorDict

from accessreviews import choosers
from accessreviews.drafts import DefinitionDraft, check_draft

PICKABLE = {
    "groups": choosers.pickable_groups,
    "applications": choosers.pickable_applications,
    "roles": choosers.pickable_roles,
    "users": choosers.pickable_users,
}


class ChooserField(forms.ModelMultipleChoiceField):
    """Ids picked through a chooser, validated against what the person may pick.

    The widget never lists the whole directory: the template shows what is chosen and the
    current search's matches (chosen, results and q are set by StepForm).
    """

    widget = forms.MultipleHiddenInput

    def __init__(self, kind: str, **kwargs):
        self.kind = kind
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": "%(value)s is not something you may choose here."},
        )
        super().__init__(queryset=None, **kwargs)

    def clean(self, value):
        return sorted(obj.pk for obj in super().clean(value))


def search_unchosen(kind: str, user, text: str, chosen_ids) -> list[choosers.Choice]:
    """A chooser search's matches less what is already chosen (listed above them, ticked)."""
    if not text:
        return []
    chosen = {int(i) for i in chosen_ids if str(i).isdigit()}
    found = choosers.search(kind, user, text, choosers.RESULTS_MAX + len(chosen))
    return [r for r in found if r.pk not in chosen][: choosers.RESULTS_MAX]


def chooser(name: str, **kwargs) -> Field:
    return Field(name, template="accessreviews/_chooser_field.html", **kwargs)


class StepForm(forms.Form):
    """A step: validates its fields, writes them into a copy of the draft, names its errors.

    DRAFT_FIELDS maps check_draft()'s field names to this form's fields; errors on other
    names belong to other steps.
    """

    DRAFT_FIELDS: dict[str, str] = {}

    def __init__(self, *args, user, draft: DefinitionDraft, **kwargs):
        kwargs.setdefault("initial", self.initial_from(draft))
        super().__init__(*args, **kwargs)
        self.user = user
        self.draft = draft
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.prepare_choosers()

    def initial_from(self, draft: DefinitionDraft) -> dict:
        return {name: getattr(draft, name) for name in self.base_fields if hasattr(draft, name)}

    def prepare_choosers(self) -> None:
        """Point each chooser at what may be picked; load the chosen labels and any search."""
        for name, field in self.fields.items():
            if not isinstance(field, ChooserField):
                continue
            field.queryset = PICKABLE[field.kind](self.user)
            html_name = self.add_prefix(name)
            ids = self.data.getlist(html_name) if self.is_bound else self.initial.get(name) or []
            field.chosen = choosers.chosen(field.kind, self.user, ids)
            field.q = (self.data.get(f"q_{html_name}") or "").strip() if self.is_bound else ""
            chosen_ids = [c.pk for c in field.chosen]
            field.results = search_unchosen(field.kind, self.user, field.q, chosen_ids)
            field.html_name = html_name

    def apply(self, draft: DefinitionDraft) -> DefinitionDraft:
        """A copy of the draft with this step's cleaned values (call after is_valid)."""
        values = {k: v for k, v in self.cleaned_data.items() if hasattr(draft, k)}
        return dataclasses.replace(draft, **values)

    def check(self, draft: DefinitionDraft, **extra) -> bool:
        """Run the shared rules on the whole draft; put this step's messages on its fields."""
        errors = check_draft(draft, **extra)
        for key, messages in errors.items():
            name = self.DRAFT_FIELDS.get(key)
            if name:
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return not self.errors

    def quiet(self) -> None:
        """Keep the submitted values on screen without complaining (search, add a stage)."""
        self.is_valid()
        self._errors = ErrorDict()
