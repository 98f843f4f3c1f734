"""Step 1: what is reviewed, and whose access."""

from crispy_forms.layout import Div, Field, Fieldset, Layout
from django import forms

from accessreviews import choosers
from accessreviews.choices import PrincipalScope, RoleAssignmentScope, ScopeType
from accessreviews.forms.base import ChooserField, StepForm, chooser
from accessreviews.models.definitions import DESCRIPTION_FOR_REVIEWERS_MAX, INACTIVE_DAYS_MAX
from accessreviews.permissions import may_manage_scope
from directory.capabilities import capabilities_for

# The ids a scope uses; the others are cleared so a changed mind leaves nothing behind.
SCOPE_IDS = {
    ScopeType.GROUP_MEMBERS: ("group_ids",),
    ScopeType.ALL_GROUPS_WITH_GUESTS: ("excluded_group_ids",),
    ScopeType.APPLICATION_ASSIGNEES: ("application_ids",),
    ScopeType.ROLE_ASSIGNEES: ("role_ids",),
}


def scope_choices(user) -> list[tuple[str, str]]:
    """The scopes this person may create: group owners only their groups' members."""
    caps = capabilities_for(user)
    allowed = {
        ScopeType.GROUP_MEMBERS: caps.manage_owned_group_reviews,
        ScopeType.ALL_GROUPS_WITH_GUESTS: caps.manage_group_reviews,
        ScopeType.APPLICATION_ASSIGNEES: caps.manage_application_reviews,
        ScopeType.ROLE_ASSIGNEES: caps.manage_role_reviews,
    }
    return [(value, label) for value, label in ScopeType.choices if allowed[value]]


class ScopeForm(StepForm):
    DRAFT_FIELDS = {
        "name": "name",
        "description_for_reviewers": "description_for_reviewers",
        "scope_type": "scope_type",
        "principal_scope": "principal_scope",
        "group_ids": "group_ids",
        "excluded_group_ids": "excluded_group_ids",
        "application_ids": "application_ids",
        "role_ids": "role_ids",
        "inactive_days": "inactive_days",
    }

    # Checked with the whole draft (check_draft), so not required=True; marked all the same.
    name = forms.CharField(
        max_length=256,
        required=False,
        label="Review name",
        widget=forms.TextInput(attrs={"aria-required": "true"}),
    )
    description_for_admins = forms.CharField(
        required=False,
        label="Description for administrators",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    description_for_reviewers = forms.CharField(
        required=False,
        label="Description for reviewers",
        help_text=f"Added to the reviewers' emails; at most {DESCRIPTION_FOR_REVIEWERS_MAX} "
        "characters.",
        widget=forms.Textarea(attrs={"rows": 3, "data-counter": DESCRIPTION_FOR_REVIEWERS_MAX}),
    )
    scope_type = forms.ChoiceField(label="What to review", widget=forms.RadioSelect)
    group_ids = ChooserField("groups", label="Groups")
    excluded_group_ids = ChooserField("groups", label="Groups to leave out")
    application_ids = ChooserField(
        "applications",
        label="Applications",
        help_text="Only applications that require assignment can be reviewed.",
    )
    role_ids = ChooserField("roles", label="Directory roles")
    role_assignment_scope = forms.ChoiceField(
        label="Assignments to review",
        choices=RoleAssignmentScope.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    principal_scope = forms.ChoiceField(
        label="Whose access",
        choices=PrincipalScope.choices,
        widget=forms.RadioSelect,
        help_text="Reviews of all groups with guests always review guests only.",
    )
    inactive_only = forms.BooleanField(
        required=False, label="Only users who have been inactive (no sign-in) for a while"
    )
    inactive_days = forms.IntegerField(
        required=False,
        label="Days inactive",
        help_text=f"1 to {INACTIVE_DAYS_MAX}. Users created within this time are left out.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope_type"].choices = scope_choices(self.user)
        self.fields["group_ids"].help_text = (
            "One review per group."
            if capabilities_for(self.user).manage_group_reviews
            else "You can review groups you own."
        )
        self.helper.layout = Layout(
            Fieldset(
                "Name and descriptions",
                Field("name", wrapper_class="is-required"),
                "description_for_admins",
                "description_for_reviewers",
            ),
            Fieldset(
                "Scope",
                "scope_type",
                Div(chooser("group_ids"), css_class="when when-groupMembers"),
                Div(chooser("excluded_group_ids"), css_class="when when-allGroupsWithGuests"),
                Div(chooser("application_ids"), css_class="when when-applicationAssignees"),
                Div(
                    chooser("role_ids"),
                    "role_assignment_scope",
                    css_class="when when-roleAssignees",
                ),
            ),
            Fieldset(
                "People",
                "principal_scope",
                "inactive_only",
                Div("inactive_days", css_class="when-inactive"),
            ),
        )

    def initial_from(self, draft):
        initial = super().initial_from(draft)
        initial["inactive_only"] = draft.inactive_days is not None
        return initial

    def clean(self):
        data = super().clean()
        scope = data.get("scope_type")
        if scope == ScopeType.ALL_GROUPS_WITH_GUESTS:
            data["principal_scope"] = PrincipalScope.GUESTS_ONLY
        if not data.get("role_assignment_scope"):
            data["role_assignment_scope"] = RoleAssignmentScope.BOTH
        for other, names in SCOPE_IDS.items():
            if other != scope:
                for name in names:
                    data[name] = []
        if not data.get("inactive_only"):
            data["inactive_days"] = None
        elif data.get("inactive_days") is None and "inactive_days" not in self.errors:
            self.add_error("inactive_days", f"Enter a number of days (1 to {INACTIVE_DAYS_MAX}).")
        group_ids = data.get("group_ids", [])
        picked = scope != ScopeType.GROUP_MEMBERS or group_ids
        if (
            scope
            and picked
            and not self.errors
            and not may_manage_scope(self.user, scope, group_ids)
        ):
            self.add_error("scope_type", "You may not create reviews of this scope.")
        return data

    def validate_step(self) -> bool:
        """The form's own checks, then the shared rules for this step's fields."""
        if not self.is_valid():
            return False
        draft = self.apply(self.draft)
        unassigned = [
            a.name
            for a in choosers.pickable_applications(self.user).filter(
                pk__in=draft.application_ids, assignment_required=False
            )
        ]
        return self.check(draft, application_names_without_assignment=unassigned)
