from django.core.management.base import BaseCommand, CommandError

from directory import importer

MAX_ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import users, groups, applications and directory role assignments from a JSON or CSV "
        "export (format: docs/import.md). All or nothing: any bad row rejects the whole file."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the export file (.json or .csv)")
        parser.add_argument(
            "--format", dest="fmt", choices=importer.FORMATS, help="default: the file's extension"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete (tombstone) users with an external id that the file does not list",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report, then roll back"
        )

    def handle(self, *args, file, fmt, prune, dry_run, **options):
        try:
            result = importer.import_file(file, fmt=fmt, prune=prune, dry_run=dry_run)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from exc
        except importer.ImportRejected as exc:
            for error in exc.errors[:MAX_ERRORS_SHOWN]:
                self.stderr.write(error)
            if len(exc.errors) > MAX_ERRORS_SHOWN:
                self.stderr.write(f"... and {len(exc.errors) - MAX_ERRORS_SHOWN} more")
            raise CommandError(
                f"{file}: {len(exc.errors)} problem(s); nothing was imported."
            ) from None
        for line in result.report_lines():
            self.stdout.write(line)
