"""The wizard's step forms (one module per step) and the edit form that reuses them."""

from accessreviews.forms.review import ReviewForm
from accessreviews.forms.schedule import ScheduleForm
from accessreviews.forms.scope import ScopeForm
from accessreviews.forms.settings import SettingsForm
from accessreviews.forms.stages import StagesForm

__all__ = ["ReviewForm", "ScheduleForm", "ScopeForm", "SettingsForm", "StagesForm"]
