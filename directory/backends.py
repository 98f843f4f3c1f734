from django.contrib.auth.backends import ModelBackend


class DirectoryBackend(ModelBackend):
    """Sign in by user principal name (case-insensitive); disabled or deleted accounts cannot."""

    def user_can_authenticate(self, user):
        return user.is_active and user.deleted_at is None

    # Portal permissions come from directory.capabilities, not Django's permission tables.
    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()


def axes_username(request, credentials) -> str:
    """The name django-axes counts failures against: the UPN tried, case-folded."""
    name = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(name).strip().casefold()[:254]
