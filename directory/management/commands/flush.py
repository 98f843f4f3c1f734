from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlush

from directory.append_only import create_triggers, drop_triggers


class Command(DjangoFlush):
    """Django's flush, which lifts the append-only triggers only where tests allow it.

    Without AUDIT_LOG_FLUSHABLE (every deployment) the triggers stay and the flush fails on the
    audit log: wiping the tenant's evidence is not something a command should do quietly.
    """

    def handle(self, **options):
        if not settings.AUDIT_LOG_FLUSHABLE:
            return super().handle(**options)
        database = options["database"]
        drop_triggers(database)
        try:
            return super().handle(**options)
        finally:
            create_triggers(database)
