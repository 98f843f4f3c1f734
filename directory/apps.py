from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DirectoryConfig(AppConfig):
    name = "directory"
    verbose_name = "Directory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from directory import access, append_only, audit, signals  # noqa: F401 (receivers)
        from directory.builtin_roles import ensure_builtin_roles
        from directory.models import AuditEvent, GrantRevocation

        append_only.register_append_only(AuditEvent._meta.db_table)
        audit.register_detail_source(
            access.REVOCATION_SOURCE,
            GrantRevocation,
            operation_field="batch",
            fields=access.REVOCATION_FIELDS,
        )
        # Any app's migrate may create or rebuild a registered table; recreate after all.
        post_migrate.connect(append_only.recreate_after_migrate, dispatch_uid="append_only")
        post_migrate.connect(ensure_builtin_roles, sender=self, dispatch_uid="builtin_roles")
