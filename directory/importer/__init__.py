"""Import the directory from a source system's export (JSON or CSV): parse, validate, apply.

`import_file()` reads the file (format: docs/import.md), checks every row against the rest of the
file and the database, and only when nothing is wrong writes, in one transaction: users, groups and
applications are upserted by external id; the owners, members, nested groups and assignments of
each group, application and directory role the file lists become exactly the file's. Writes are
set-based: COPY (PostgreSQL) or multi-row INSERTs for new rows, one UPDATE per changed field set
joined to a staged temporary table, DELETE by id; so a file of 100,000 users takes seconds.
"""

import hashlib
from pathlib import Path

from django.db import transaction

from directory import audit, signals
from directory.importer.parse_csv import read_csv
from directory.importer.parse_json import read_json
from directory.importer.problems import ImportRejected
from directory.importer.records import Document
from directory.importer.result import ImportResult
from directory.importer.run import ImportRun
from directory.importer.sql import lock_imports

__all__ = [
    "FORMATS",
    "Document",
    "ImportRejected",
    "ImportResult",
    "import_document",
    "import_file",
    "read_csv",
    "read_json",
]

FORMATS = ("json", "csv")


def import_file(path, *, fmt: str | None = None, prune=False, dry_run=False) -> ImportResult:
    """Read, validate and apply one export file; raise ImportRejected when any row is bad."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ImportRejected([f"{path.name}: cannot tell the format; use --format json or csv"])
    data = path.read_bytes()
    doc = read_json(data) if fmt == "json" else read_csv(data)
    digest = hashlib.sha256(data).hexdigest()
    return import_document(doc, source=path.name, sha256=digest, prune=prune, dry_run=dry_run)


def import_document(doc: Document, *, source: str, sha256="", prune=False, dry_run=False):
    """Validate a parsed Document against the database and apply it, in one transaction."""
    with transaction.atomic():
        lock_imports()
        run = ImportRun(doc, actor=f"import:{source}", prune=prune)
        run.validate()
        run.apply()
        details = {"file": source, "sha256": sha256, "prune": prune, "counts": run.counts}
        audit.record(run.actor, "directory.import", None, details)
        if dry_run:
            transaction.set_rollback(True)
        else:
            transaction.on_commit(
                lambda: signals.directory_imported.send(sender=ImportRun, counts=run.counts)
            )
    return ImportResult(source, run.counts, dry_run)
