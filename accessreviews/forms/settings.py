"""Step 4: notifications, helpers, and what happens when the review ends."""

from crispy_forms.layout import Div, Fieldset, Layout
from django import forms

from accessreviews.choices import DefaultDecision, DeniedGuestAction, PrincipalScope, ScopeType
from accessreviews.forms.base import ChooserField, StepForm, chooser

MIDPOINT, DAYS_BEFORE_END = "midpoint", "daysBeforeEnd"


class SettingsForm(StepForm):
    DRAFT_FIELDS = {
        "recommendation_look_back_days": "recommendation_look_back_days",
        "denied_guest_action": "denied_guest_action",
        "auto_apply_max_removal_percent": "auto_apply_max_removal_percent",
        "reminder_days_before_end": "reminder_days_before_end",
    }

    mail_notifications_enabled = forms.BooleanField(
        required=False, label="Email reviewers when a review starts, and admins when it ends"
    )
    reminders_enabled = forms.BooleanField(required=False, label="Send reminders")
    reminder_mode = forms.ChoiceField(
        label="When",
        choices=[
            (MIDPOINT, "One at each stage's midpoint"),
            (DAYS_BEFORE_END, "A number of days before each stage ends"),
        ],
        widget=forms.RadioSelect,
    )
    reminder_days_before_end = forms.CharField(
        required=False,
        label="Days before the end",
        help_text="For example 7, 3, 1. Only reviewers with decisions still to make are reminded.",
    )
    justification_required = forms.BooleanField(
        required=False, label="Reviewers must give a reason for each decision"
    )
    recommendation_look_back_days = forms.IntegerField(
        label="Recommendations look back (days)",
        help_text="Recommend Deny for people with no sign-in in this time (at most 30 for "
        "applications).",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    default_decision = forms.ChoiceField(
        label="If reviewers don't respond",
        choices=DefaultDecision.choices,
        widget=forms.RadioSelect,
    )
    auto_apply = forms.BooleanField(
        required=False, label="Apply the results automatically when the review ends"
    )
    auto_apply_max_removal_percent = forms.IntegerField(
        label="Largest share an auto-apply may remove (%)",
        help_text="Beyond this (and at least 5 people), it waits for an administrator.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    denied_guest_action = forms.ChoiceField(
        label="Denied guests",
        choices=DeniedGuestAction.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    notify_removed_people = forms.BooleanField(
        required=False, label="Tell people by email when their access is removed"
    )
    additional_recipient_ids = ChooserField(
        "users", label="Also tell these people when the review completes"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        guest_actions = self.draft.principal_scope == PrincipalScope.GUESTS_ONLY and (
            self.draft.scope_type != ScopeType.ALL_GROUPS_WITH_GUESTS
        )
        if not guest_actions:
            # Not offered, so never taken from the POST either.
            del self.fields["denied_guest_action"]
        self.helper.layout = Layout(
            Fieldset(
                "Notifications",
                "mail_notifications_enabled",
                "reminders_enabled",
                Div(
                    "reminder_mode",
                    Div("reminder_days_before_end", css_class="when-daysBeforeEnd narrow-lg"),
                    css_class="when-reminders",
                ),
                chooser("additional_recipient_ids"),
            ),
            Fieldset(
                "Reviewers",
                "justification_required",
                Div("recommendation_look_back_days", css_class="narrow"),
            ),
            Fieldset(
                "When the review ends",
                "default_decision",
                "auto_apply",
                Div("auto_apply_max_removal_percent", css_class="narrow when-auto-apply"),
                *(["denied_guest_action"] if guest_actions else []),
                "notify_removed_people",
            ),
        )

    def initial_from(self, draft):
        initial = super().initial_from(draft)
        initial["reminder_mode"] = DAYS_BEFORE_END if draft.reminder_days_before_end else MIDPOINT
        initial["reminder_days_before_end"] = ", ".join(
            str(d) for d in draft.reminder_days_before_end
        )
        return initial

    def clean_reminder_days_before_end(self):
        text = self.cleaned_data["reminder_days_before_end"].replace(";", ",")
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not all(p.isdigit() and len(p) < 5 for p in parts):
            raise forms.ValidationError("Whole numbers of days, separated by commas.")
        return sorted({int(p) for p in parts}, reverse=True)

    def clean(self):
        data = super().clean()
        if data.get("reminder_mode") == MIDPOINT:
            data["reminder_days_before_end"] = []
        elif (
            data.get("reminder_mode") == DAYS_BEFORE_END
            and not data.get("reminder_days_before_end")
            and "reminder_days_before_end" not in self.errors
        ):
            self.add_error("reminder_days_before_end", "Enter at least one number of days.")
        if not data.get("denied_guest_action"):
            data["denied_guest_action"] = DeniedGuestAction.REMOVE_ACCESS
        return data

    def validate_step(self) -> bool:
        return self.is_valid() and self.check(self.apply(self.draft))
