from django.core.management.base import BaseCommand, CommandError

from directory.audit import verify_chain


class Command(BaseCommand):
    help = "Walk the audit chain and its detail digests; print the head, or the first broken seq."

    def handle(self, *args, **options):
        result = verify_chain()
        if not result.ok:
            raise CommandError(str(result), returncode=1)
        self.stdout.write(str(result))
