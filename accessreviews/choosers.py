"""What a person may pick in the wizard's choosers, and the search over it (selectors).

The same querysets validate the submitted ids, so a chooser never offers what the form would
refuse, and a tampered id of something not offered is a field error.
"""

from dataclasses import dataclass

from django.db.models import QuerySet

from accessreviews.permissions import owned_group_ids
from directory.capabilities import capabilities_for
from directory.models import Application, DirectoryRole, Group, User

RESULTS_MAX = 20
KINDS = ("groups", "applications", "roles", "users")


@dataclass(frozen=True)
class Choice:
    pk: int
    name: str
    detail: str


def pickable_groups(user) -> QuerySet:
    """Admins pick any group; group owners only the groups they own."""
    if capabilities_for(user).manage_group_reviews:
        return Group.objects.all()
    return Group.objects.filter(pk__in=owned_group_ids(user))


def pickable_applications(user) -> QuerySet:
    """Every application may be submitted (the form names one that needs assignment first)."""
    if capabilities_for(user).manage_application_reviews:
        return Application.objects.all()
    return Application.objects.none()


def offered_applications(user) -> QuerySet:
    """Only applications that require assignment can be reviewed, so only those are offered."""
    return pickable_applications(user).filter(assignment_required=True)


def pickable_roles(user) -> QuerySet:
    if capabilities_for(user).manage_role_reviews:
        return DirectoryRole.objects.all()
    return DirectoryRole.objects.none()


def pickable_users(user) -> QuerySet:
    """Reviewers and recipients: enabled people who still exist."""
    if not capabilities_for(user).create_reviews:
        return User.objects.none()
    return User.objects.alive().filter(is_active=True)


def _group_detail(group) -> str:
    parts = [group.get_kind_display()]
    if group.membership_type == "dynamic":
        parts.append("dynamic")
    if group.source == "onPremises":
        parts.append("synced")
    return ", ".join(parts)


def search(kind: str, user, text: str, limit: int = RESULTS_MAX) -> list[Choice]:
    """Up to `limit` matches, by name, among what `user` may pick (one query)."""
    text = (text or "").strip()[:100]
    if kind == "groups":
        found = pickable_groups(user).search(text).order_by("name", "id")[:limit]
        return [Choice(g.pk, g.name, _group_detail(g)) for g in found]
    if kind == "applications":
        found = offered_applications(user).search(text).order_by("name", "id")[:limit]
        return [Choice(a.pk, a.name, "Assignment required") for a in found]
    if kind == "roles":
        found = pickable_roles(user).filter(name__icontains=text).order_by("name")[:limit]
        return [Choice(r.pk, r.name, "Privileged" if r.is_privileged else "") for r in found]
    if kind == "users":
        found = pickable_users(user).search(text).order_by("display_name", "id")[:limit]
        return [Choice(u.pk, u.display_name, _user_detail(u)) for u in found]
    raise LookupError(kind)


def _user_detail(user) -> str:
    return f"{user.user_principal_name}{' · guest' if user.is_guest else ''}"


def chosen(kind: str, user, ids) -> list[Choice]:
    """The already selected ids that `user` may pick, with their labels (one query)."""
    ids = [int(i) for i in ids if str(i).isdigit()]
    if not ids:
        return []
    querysets = {
        "groups": (pickable_groups, "name", lambda o: (o.name, _group_detail(o))),
        "applications": (pickable_applications, "name", lambda o: (o.name, "")),
        "roles": (pickable_roles, "name", lambda o: (o.name, "")),
        "users": (pickable_users, "display_name", lambda o: (o.display_name, _user_detail(o))),
    }
    pickable, order, label = querysets[kind]
    return [Choice(o.pk, *label(o)) for o in pickable(user).filter(pk__in=ids).order_by(order)]
