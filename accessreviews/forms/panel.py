"""The access panel's forms: one decision, a decision on many, accepting recommendations.

They validate and normalise only; whether a justification is required is the decision
service's rule (it reads the review's settings snapshot), so the views turn its refusal into
the same field error.
"""

from django import forms

from accessreviews.choices import Decision
from accessreviews.drafts import JUSTIFICATION_MAX

DECISIONS = [
    (Decision.APPROVE, "Approve"),
    (Decision.DENY, "Deny"),
    (Decision.DONT_KNOW, "Don't know"),
]
# One page's worth of ticked rows, with room to spare; "all matching" has no list at all.
SELECTION_MAX = 500

SELECTED, MATCHING, PENDING = "selected", "matching", "pending"


def _justification():
    return forms.CharField(
        label="Reason",
        required=False,
        max_length=JUSTIFICATION_MAX,
        strip=True,
        error_messages={"max_length": f"A reason has at most {JUSTIFICATION_MAX} characters."},
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=DECISIONS, error_messages={"required": "Choose Approve, Deny or Don't know."}
    )
    justification = _justification()


class SelectionField(forms.TypedMultipleChoiceField):
    """Item uuids from the ticked rows; which of them the caller may decide is the service's
    rule, so any well-formed uuid is accepted here."""

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def valid_value(self, value):
        return True

    def to_python(self, value):
        values = super().to_python(value)
        if len(values) > SELECTION_MAX:
            raise forms.ValidationError(f"Select at most {SELECTION_MAX} rows at a time.")
        field = forms.UUIDField(error_messages={"invalid": "A selected row is not an item id."})
        return [field.clean(v) for v in values]


class BulkDecisionForm(DecisionForm):
    scope = forms.ChoiceField(
        choices=[(SELECTED, "The selected rows"), (MATCHING, "Everyone matching the filter")],
        initial=SELECTED,
        error_messages={"required": "Choose the selected rows or everyone matching the filter."},
    )
    items = SelectionField()

    def clean(self):
        data = super().clean()
        if data.get("scope") == SELECTED and not data.get("items"):
            self.add_error("items", "Select at least one row, or choose everyone matching.")
        return data


class AcceptForm(forms.Form):
    justification = _justification()
    accept = forms.ChoiceField(
        choices=[(SELECTED, "The selected rows"), (PENDING, "All my pending items")],
        error_messages={"required": "Choose the selected rows or all pending items."},
    )
    items = SelectionField()

    def clean(self):
        data = super().clean()
        if data.get("accept") == SELECTED and not data.get("items"):
            self.add_error("items", "Select at least one row, or accept for all pending items.")
        return data
