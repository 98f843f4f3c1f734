"""Filters for the inbox and the delivery log: they validate and normalise, never save."""

import datetime

from django import forms
from django.utils import timezone

from notifications.models import EmailStatus, MessageKind
from notifications.selectors import DeliveryFilter


class InboxFilterForm(forms.Form):
    unread = forms.BooleanField(required=False, label="Unread only")


def _start_of_day(day: datetime.date) -> datetime.datetime:
    """Midnight of `day` in the portal's time zone (the one every page shows times in)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Email status", required=False, choices=[("", "Any status"), *EmailStatus.choices]
    )
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "Any kind"), *MessageKind.choices]
    )
    recipient = forms.CharField(label="Recipient", required=False, max_length=200)
    date_from = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="Created to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "f-%s")
        super().__init__(*args, **kwargs)
        self.fields["recipient"].widget.attrs.update(
            {"type": "search", "placeholder": "Name, UPN, email", "autocomplete": "off"}
        )
        for name, field in self.fields.items():
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            if self.is_bound and name in self.errors:
                css += " is-invalid"
                field.widget.attrs["aria-describedby"] = f"f-{name}-error"
            field.widget.attrs["class"] = css

    def clean_date_from(self):
        day = self.cleaned_data["date_from"]
        return _start_of_day(day) if day else None

    def clean_date_to(self):
        # The whole of the last day counts: the bound is the next midnight, exclusive.
        day = self.cleaned_data["date_to"]
        return _start_of_day(day + datetime.timedelta(days=1)) if day else None

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end <= start:
            self.add_error("date_to", "Choose a date on or after the “Created from” date.")
        return cleaned

    def delivery_filter(self) -> DeliveryFilter:
        """The filters that validated; a field with an error is left out (and shown as one)."""
        valid = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return DeliveryFilter(
            status=valid.get("status", ""),
            kind=valid.get("kind", ""),
            recipient=valid.get("recipient", "").strip(),
            created_from=valid.get("date_from"),
            created_before=valid.get("date_to"),
        )
