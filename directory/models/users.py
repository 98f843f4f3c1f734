import uuid
import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


def validate_time_zone(value: str) -> None:
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "%(value)s is not an IANA time zone (for example Europe/Paris).",
            params={"value": value},
        ) from None


class UserType(models.TextChoices):
    MEMBER = "Member", "Member"
    GUEST = "Guest", "Guest"


class UserQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def search(self, text: str):
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(display_name__icontains=text)
            | Q(user_principal_name__icontains=text)
            | Q(email__icontains=text)
        )

    def delete(self):
        raise TypeError("Users are tombstoned, never deleted: use services.user_tombstone().")


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        # User principal names are case-insensitive, as in Entra.
        return self.get(user_principal_name__iexact=username)

    def create_user(self, user_principal_name, password=None, **fields):
        fields.setdefault("display_name", user_principal_name.split("@")[0])
        if "email" in fields:
            fields["email"] = self.normalize_email(fields["email"])
        user = self.model(user_principal_name=user_principal_name, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, user_principal_name, password=None, **fields):
        fields["is_superuser"] = True
        return self.create_user(user_principal_name, password, **fields)


class User(AbstractBaseUser):
    """A person in the tenant: a member or a guest. Never hard-deleted (see user_tombstone)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user_principal_name = models.CharField("user principal name", max_length=254)
    display_name = models.CharField(max_length=256)
    email = models.EmailField(blank=True)
    user_type = models.CharField(max_length=10, choices=UserType, default=UserType.MEMBER)
    # Entra's accountEnabled. Named is_active because Django's sign-in and password reset
    # query that column by that name.
    is_active = models.BooleanField("account enabled", default=True)
    guest_invitation_accepted = models.BooleanField(
        default=True, help_text="For guests: whether they redeemed their invitation."
    )
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="direct_reports"
    )
    department = models.CharField(max_length=128, blank=True)
    job_title = models.CharField(max_length=128, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A denied guest's sign-in was blocked by a review: the tick deletes the account then,
    # unless an admin re-enables it first.
    deletion_scheduled_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_superuser = models.BooleanField(
        "superuser", default=False, help_text="Can do everything, the Django admin included."
    )

    objects = UserManager()

    USERNAME_FIELD = "user_principal_name"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name", "email"]

    class Meta:
        ordering = ["display_name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("user_principal_name"), name="user_upn_unique_ci"),
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="user_email_unique_ci"
            ),
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""), name="user_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(user_type__in=UserType.values), name="user_type_valid"
            ),
            models.CheckConstraint(
                condition=~Q(manager=models.F("id")), name="user_not_own_manager"
            ),
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(is_active=False),
                name="user_tombstone_disabled",
            ),
            models.CheckConstraint(condition=~Q(user_principal_name=""), name="user_upn_not_empty"),
        ]
        indexes = [
            # The directory's user list and choosers sort and page by name.
            models.Index(Lower("display_name"), "id", name="user_name_sort_idx"),
            # The tick: blocked guests whose deletion has come.
            models.Index(
                fields=["deletion_scheduled_at"],
                condition=Q(deletion_scheduled_at__isnull=False),
                name="user_deletion_due_idx",
            ),
        ]

    def __str__(self):
        return f"{self.display_name} <{self.user_principal_name}>"

    def delete(self, *args, **kwargs):
        raise TypeError("Users are tombstoned, never deleted: use services.user_tombstone().")

    def clean(self):
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)
        if self.manager_id and self.manager_id == self.pk:
            raise ValidationError({"manager": "A user cannot be their own manager."})

    @property
    def is_guest(self) -> bool:
        return self.user_type == UserType.GUEST

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_staff(self) -> bool:
        """Django admin entry: Global Administrators and superusers (see capabilities)."""
        from directory.capabilities import capabilities_for

        return capabilities_for(self).use_django_admin

    def get_full_name(self):
        return self.display_name

    def get_short_name(self):
        return self.display_name

    def has_perm(self, perm, obj=None):
        return self.is_staff

    def has_perms(self, perm_list, obj=None):
        return self.is_staff

    def has_module_perms(self, app_label):
        return self.is_staff
