"""Step 3: when the review runs."""

import datetime
import pathlib
import zoneinfo

from crispy_forms.layout import Div, Field, Fieldset, Layout
from django import forms
from django.conf import settings
from django.utils import timezone

from accessreviews.forms.base import StepForm
from accessreviews.schedule import EndRule, Recurrence

# Every name zoneinfo knows, aliases included: accepted when posted (a user's or a series' zone
# may be an old alias such as US/Eastern).
ALL_ZONES = frozenset(zoneinfo.available_timezones() - {"localtime"})
# Offered canonical areas; zone.tab is missing on systems without the tz database files.
AREAS = ("Africa/", "America/", "Antarctica/", "Arctic/", "Asia/", "Atlantic/", "Australia/")
AREAS += ("Europe/", "Indian/", "Pacific/")


def _offered_zones() -> list[str]:
    """The names to offer: tzdata's zone.tab (one current name per place) plus UTC.

    zone.tab leaves out the backward-compatible aliases (Africa/Asmera, America/Buenos_Aires,
    US/Eastern, Etc/GMT+5...). Without it, keep names in a continent or ocean area, which drops
    most aliases but not renamed cities.
    """
    for directory in zoneinfo.TZPATH:
        try:
            with open(pathlib.Path(directory) / "zone.tab", encoding="utf-8") as table:
                rows = [line.split("\t") for line in table if not line.startswith("#")]
        except OSError:
            continue
        names = {row[2].strip() for row in rows if len(row) > 2}
        return sorted((names & ALL_ZONES) | {"UTC"})
    return sorted({z for z in ALL_ZONES if z.startswith(AREAS)} | {"UTC"})


ZONES = _offered_zones()


class ZoneField(forms.ChoiceField):
    """Offers the canonical zones; accepts any name zoneinfo knows."""

    def valid_value(self, value):
        return value in ALL_ZONES


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

    # Checked with the whole draft (check_draft), so not required=True; marked all the same.
    start_date = forms.DateField(
        required=False,
        label="Start date",
        widget=forms.DateInput(attrs={"type": "date", "aria-required": "true"}),
    )
    start_time = forms.TimeField(
        label="Start time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    time_zone = ZoneField(
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
                    Div(
                        Field("start_date", wrapper_class="is-required"),
                        css_class="col-sm-6 col-lg-4",
                    ),
                    Div("start_time", css_class="col-sm-6 col-lg-3"),
                    css_class="row",
                ),
                Div("time_zone", css_class="narrow-lg"),
            ),
            Fieldset(
                "Recurrence",
                Div(
                    Div("recurrence", css_class="col-sm-6 col-lg-4"),
                    Div("interval", css_class="col-sm-6 col-lg-3 when-repeating"),
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

        self._offer_current_zone()

    def _offer_current_zone(self) -> None:
        """Keep an alias already chosen (or posted) selectable, so saving never changes it."""
        current = {self.draft.time_zone, self.data.get("time_zone") if self.is_bound else None}
        extra = sorted(z for z in current if z in ALL_ZONES and z not in ZONES)
        self.fields["time_zone"].choices = [(z, z) for z in extra + ZONES]

    def initial_from(self, draft):
        """A new series starts tomorrow in its zone unless a date was chosen."""
        initial = super().initial_from(draft)
        today = today_in(draft.time_zone)
        if initial.get("start_date") is None and today:
            initial["start_date"] = today + datetime.timedelta(days=1)
        return initial

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
