from django.conf import settings
from django.db import models
from django.db.models import Q


class TenantSettings(models.Model):
    """Tenant-wide switches an admin can change at run time; empty means the environment's."""

    group_owners_can_manage_reviews = models.BooleanField(
        null=True,
        blank=True,
        help_text="Group owners may create and manage reviews of groups they own. "
        "Empty: the GROUP_OWNERS_CAN_MANAGE_REVIEWS environment variable decides.",
    )

    class Meta:
        verbose_name = verbose_name_plural = "tenant settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="tenant_settings_singleton")]

    def __str__(self):
        return "Tenant settings"

    @classmethod
    def current(cls) -> "TenantSettings":
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    @classmethod
    def group_owners_manage_reviews(cls) -> bool:
        value = cls.objects.filter(pk=1).values_list("group_owners_can_manage_reviews", flat=True)
        value = value.first()
        return settings.GROUP_OWNERS_CAN_MANAGE_REVIEWS if value is None else value
