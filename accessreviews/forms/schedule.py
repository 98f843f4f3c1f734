"""Step 3: when the review runs."""

import zoneinfo

from crispy_forms.layout import Div, Fieldset, Layout
from django import forms
from django.conf import settings
from django.utils import timezone

from accessreviews.forms.base import StepForm
from accessreviews.schedule import EndRule, Recurrence

ZONES = sorted(zoneinfo.available_timezones() - {"localtime"})


def default_zone(user) -> str:
    return getattr(user, "time_zone", "") or settings.TIME_ZONE


class ScheduleForm(StepForm):
    DRAFT_FIELDS = {
        "time_zone": "time_zone",
        "start_date": "start_date",
        "recurrence": "recurrence",
        "interval": "interval",
        "end_date": "end_date",
        "occurrence_count": "occurrence_count",
        # Stages too long for the recurrence: said where the recurrence is chosen.
        "stages": "recurrence",
        "stages.1.duration_days": "recurrence",
    }

    start_date = forms.DateField(
        required=False, label="Start date", widget=forms.DateInput(attrs={"type": "date"})
    )
    start_time = forms.TimeField(
        label="Start time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=[(z, z) for z in ZONES],
        help_text="Each occurrence starts at this local time, summer and winter alike.",
    )
    recurrence = forms.ChoiceField(label="Repeat", choices=Recurrence.choices)
    interval = forms.IntegerField(
        label="Every",
        min_value=1,
        max_value=52,
        help_text="1 for every week, month, quarter…; 2 for every other one.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    end_rule = forms.ChoiceField(label="Ends", choices=EndRule.choices, widget=forms.RadioSelect)
    end_date = forms.DateField(
        required=False, label="End date", widget=forms.DateInput(attrs={"type": "date"})
    )
    occurrence_count = forms.IntegerField(
        required=False,
        label="Number of occurrences",
        min_value=1,
        max_value=1000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper.layout = Layout(
            Fieldset(
                "Start",
                Div(
                    Div("start_date", css_class="col-sm-6 col-lg-4"),
                    Div("start_time", css_class="col-sm-6 col-lg-3"),
                    css_class="row",
                ),
                Div("time_zone", css_class="narrow-lg"),
            ),
            Fieldset(
                "Recurrence",
                Div(
                    Div("recurrence", css_class="col-sm-6 col-lg-4"),
                    Div("interval", css_class="col-sm-6 col-lg-3"),
                    css_class="row",
                ),
                Div(
                    "end_rule",
                    Div("end_date", css_class="when-endDate narrow"),
                    Div("occurrence_count", css_class="when-numbered narrow"),
                    css_class="when-recurring",
                ),
            ),
        )

    def clean(self):
        data = super().clean()
        if data.get("recurrence") == Recurrence.ONE_TIME:
            data.update(interval=1, end_rule=EndRule.NEVER)
        if data.get("end_rule") != EndRule.ON_DATE:
            data["end_date"] = None
        if data.get("end_rule") != EndRule.AFTER:
            data["occurrence_count"] = None
        return data

    def validate_step(self) -> bool:
        if not self.is_valid():
            return False
        draft = self.apply(self.draft)
        # A start date already on the series (an edit) may lie in the past; a new one may not.
        return self.check(
            draft, today=today_in(draft.time_zone), original_start_date=self.draft.start_date
        )


def today_in(zone_name: str):
    try:
        return timezone.now().astimezone(zoneinfo.ZoneInfo(zone_name)).date()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
