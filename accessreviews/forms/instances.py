"""The instance page's forms: extend (a wall time in the viewer's zone), reassign, the stage."""

import datetime
import zoneinfo

from django import forms
from django.db.models import Q

from accessreviews.models.definitions import MAX_STAGES
from accessreviews.services.operations import REASON_MAX
from directory.models import User

MATCHES_SHOWN = 5


class _Small(forms.Form):
    """Compact Bootstrap inputs: these forms sit in the narrow operations column."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if not isinstance(field.widget, forms.Select):
                field.widget.attrs.setdefault("class", "form-control form-control-sm")


class ExtendForm(_Small):
    new_end_date = forms.DateField(
        label="New end date", widget=forms.DateInput(attrs={"type": "date"})
    )
    new_end_time = forms.TimeField(
        label="Time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )

    def __init__(self, *args, zone: str, **kwargs):
        self.zone = zoneinfo.ZoneInfo(zone)
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        day, time = data.get("new_end_date"), data.get("new_end_time")
        if day is not None and time is not None:
            # A wall time that does not exist (spring forward) moves on; an ambiguous one takes
            # the first, as DESIGN.md "Time" says.
            local = datetime.datetime.combine(day, time, tzinfo=self.zone)
            try:
                data["new_end"] = local.astimezone(datetime.UTC)
            except OverflowError:  # e.g. 31 Dec 9999 23:00 in New York is past year 9999 in UTC
                self.add_error("new_end_date", "Choose a date within the next year.")
        return data


class StageForm(forms.Form):
    """The stage an operation's form was shown for (the page posts its ordinal)."""

    stage = forms.IntegerField(min_value=1, max_value=MAX_STAGES)


class ReassignForm(_Small):
    from_reviewer = forms.TypedChoiceField(label="From", coerce=int)
    to_reviewer = forms.CharField(
        label="To",
        max_length=254,
        help_text="Their name, email address or user name (UPN).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        help_text="Kept in the audit log.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, reviewers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_reviewer"].choices = [
            (a.reviewer_id, f"{a.reviewer.display_name} ({a.pending} left)") for a in reviewers
        ]
        self.people = {a.reviewer_id: a.reviewer for a in reviewers}

    def clean_from_reviewer(self):
        return self.people[self.cleaned_data["from_reviewer"]]

    def clean_to_reviewer(self):
        """An exact email or user name, else a name search that finds exactly one person."""
        text = self.cleaned_data["to_reviewer"].strip()
        people = User.objects.alive().filter(is_active=True)
        named = Q(user_principal_name__iexact=text) | Q(email__iexact=text)
        found = list(people.filter(named)[:2]) or list(
            people.search(text).order_by("display_name", "pk")[: MATCHES_SHOWN + 1]
        )
        if len(found) == 1:
            return found[0]
        if not found:
            raise forms.ValidationError("No one in the directory matches this.")
        shown = found[:MATCHES_SHOWN]
        listed = "; ".join(f"{u.display_name} ({u.user_principal_name})" for u in shown)
        more = " and more" if len(found) > MATCHES_SHOWN else ""
        raise forms.ValidationError(
            f"Several people match: {listed}{more}. Type the email of the one you mean."
        )
