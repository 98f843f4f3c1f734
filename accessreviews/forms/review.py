"""Step 5: the creator's acknowledgement of what the preflight found."""

from django import forms

from accessreviews.forms.base import StepForm


class ReviewForm(StepForm):
    acknowledge = forms.BooleanField(
        required=False,
        label="I understand: items without an eligible reviewer will wait on the work queue "
        "until an administrator assigns one.",
    )

    def __init__(self, *args, needs_acknowledgement: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_acknowledgement = needs_acknowledgement
        if not needs_acknowledgement:
            del self.fields["acknowledge"]

    def clean(self):
        data = super().clean()
        if self.needs_acknowledgement and not data.get("acknowledge"):
            self.add_error("acknowledge", "Confirm you have read the warning before creating.")
        return data
