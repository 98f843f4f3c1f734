"""The tenant's audit log: one hash-chained AuditEvent per operation.

Format (also what an evidence pack's standalone verifier implements):
- canonical JSON: json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
  datetimes as UTC ISO-8601 with microseconds and "Z", UUIDs and decimals as strings;
- an event's detail rows are the rows of its registered source whose operation column equals the
  event's `operation`, ordered by id; detail_digest = sha256 over each row's canonical JSON
  followed by "\\n" (empty string when there are none);
- hash = sha256(prev_hash + canonical JSON of the event's content) in hex; the first event's
  prev_hash is 64 zeros.
Writers are serialised by a lock held until their transaction commits, so the chain cannot fork.
"""

import datetime
import decimal
import hashlib
import itertools
import json
import uuid
from dataclasses import dataclass
from json.encoder import encode_basestring

from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from directory.models import AuditEvent

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key for the chain (any constant; "audit" in ASCII).
CHAIN_LOCK_KEY = 0x6175646974

# --- Canonical form --------------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, datetime.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, datetime.UTC)
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


# One encoder for every call (json.dumps builds a new one each time): digests encode a row each.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)


def canonical_json(value) -> str:
    return _CANONICAL.encode(value)


# --- Detail sources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DetailSource:
    name: str
    model: type[models.Model]
    operation_field: str
    fields: tuple[str, ...]

    def rows(self, operation):
        queryset = self.model._default_manager.filter(**{self.operation_field: operation})
        return queryset.order_by("id").values("id", *self.fields).iterator(chunk_size=5000)


_sources: dict[str, DetailSource] = {}
DIGEST_CHUNK = 5000


def register_detail_source(name, model, *, fields, operation_field="audit_operation"):
    """Let events name `name` as the source of their detail rows (call from AppConfig.ready)."""
    _sources[name] = DetailSource(name, model, operation_field, tuple(fields))


def detail_digest(source_name: str, operation) -> tuple[int, str]:
    if not source_name:
        return 0, ""
    source = _sources[source_name]
    queryset = source.model._default_manager.filter(**{source.operation_field: operation})
    names = sorted(("id", *source.fields))  # canonical key order
    line = _canonical_line_sql(source.model, names)
    chunks = _python_lines(queryset, names) if line is None else _database_lines(queryset, line)
    digest, count = hashlib.sha256(), 0
    for lines in chunks:
        digest.update(("\n".join(lines) + "\n").encode())
        count += len(lines)
    return count, (digest.hexdigest() if count else "")


def _python_lines(queryset, names: list[str]):
    """Chunks of canonical_json(row), encoded a column at a time (digests run over whole
    apply batches and bulk decisions: test_audit_digest checks the bytes)."""
    # Selected in canonical (sorted) key order, so that a row fills one template.
    template = "{" + ",".join(encode_basestring(n).replace("%", "%%") + ":%s" for n in names) + "}"
    rows = queryset.order_by("id").values_list(*names).iterator(chunk_size=DIGEST_CHUNK)
    formatted = {}
    while chunk := list(itertools.islice(rows, DIGEST_CHUNK)):
        columns = [_canonical_column(values, formatted) for values in zip(*chunk, strict=True)]
        yield list(map(template.__mod__, zip(*columns, strict=True)))


def _database_lines(queryset, line_sql: str):
    """Chunks of canonical_json(row), each row's line written by the database itself."""
    # line_sql is built from the model's own field names only, never from input.
    line = RawSQL(line_sql, ())  # noqa: S611
    query = queryset.order_by("id").annotate(_line=line).values_list("_line")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(DIGEST_CHUNK):
            yield [row[0] for row in rows]


# Columns whose canonical JSON both databases write byte for byte as Python does: integers as
# digits, text as a JSON string (SQLite's json_quote and PostgreSQL's to_json escape exactly
# what json.dumps(ensure_ascii=False) escapes: the quote, the backslash and control characters,
# with the same short forms and lowercase \u00XX). Datetimes, UUIDs and booleans are stored
# differently by each database, so a source with one of those is encoded in Python.
_INTEGER_FIELDS = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
}
_TEXT_FIELDS = {"CharField", "TextField", "SlugField", "EmailField"}
_JSON_STRING = {"sqlite": "json_quote({})", "postgresql": "to_json({})::text"}


def _canonical_line_sql(model, names: list[str]) -> str | None:
    """SQL for one row's canonical JSON (keys in `names` order), or None when a column's type
    is not one the database can write canonically."""
    quote = _JSON_STRING.get(connection.vendor)
    if quote is None or not connection.features.supports_json_field:  # no JSON functions
        return None
    parts = []
    for index, name in enumerate(names):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:  # a lookup path such as "a__b": Python reads it
            return None
        if not field.concrete or field.many_to_many:  # relations stored elsewhere
            return None
        value_field = field.target_field if field.is_relation else field
        if hasattr(value_field, "from_db_value"):  # a custom field that converts its values
            return None
        kind = value_field.get_internal_type()
        column = connection.ops.quote_name(field.column)
        if kind in _INTEGER_FIELDS:
            value = f"CAST({column} AS TEXT)"
        elif kind in _TEXT_FIELDS:
            value = quote.format(column)
        else:
            return None
        if field.null:
            value = f"COALESCE({value}, 'null')"
        key = ("{" if index == 0 else ",") + encode_basestring(name) + ":"
        parts.append(f"'{key}' || {value}")
    return "(" + " || ".join(parts) + " || '}')"


# A column of one plain type is encoded by one C-level map (bool is not int here: type() is exact).
_PLAIN_ENCODERS = {int: int.__repr__, str: encode_basestring}


def _canonical_column(values: tuple, formatted: dict) -> list[str]:
    """canonical_json of each value of one column of a chunk."""
    kinds = set(map(type, values))
    encoder = _PLAIN_ENCODERS.get(kinds.pop()) if len(kinds) == 1 else None
    if encoder is not None:
        return list(map(encoder, values))
    return [_canonical_value(value, formatted) for value in values]


def _canonical_value(value, formatted: dict) -> str:
    """canonical_json(value) for one value, with fast paths for the common plain types.

    `formatted` caches instants and UUIDs for one digest: the rows of an operation share them,
    and strftime per row would dominate a 50,000-row digest. Decimals are not cached, since
    equal decimals may print differently."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if isinstance(value, datetime.datetime | uuid.UUID):
        try:
            return formatted[value]
        except KeyError:
            formatted[value] = text = _CANONICAL.encode(value)
            return text
    return _CANONICAL.encode(value)  # bool, float, date, decimal, ...: the general form


# --- Actors and objects ------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    label: str = ""


SYSTEM = Actor("system", "", "system")


def actor_of(who) -> Actor:
    """An Actor from a user, an Actor, a label string (a system process) or None."""
    if isinstance(who, Actor):
        return who
    if who is None:
        return SYSTEM
    if isinstance(who, str):
        return Actor("system", "", who)
    if not getattr(who, "is_authenticated", False):
        return Actor("anonymous", "", "anonymous")
    return Actor("user", str(who.uuid), who.user_principal_name)


def object_ref(obj) -> tuple[str, str, str]:
    if obj is None:
        return "", "", ""
    if isinstance(obj, tuple):
        return obj
    key = getattr(obj, "uuid", None) or obj.pk
    return obj._meta.model_name, str(key), str(obj)[:300]


# --- Writing and verifying ---------------------------------------------------------------------


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    # SQLite: transactions BEGIN IMMEDIATE (settings), which already holds the one write lock.


def event_content(event: AuditEvent) -> dict:
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": [event.actor_type, event.actor_id, event.actor_label],
        "action": event.action,
        "object": [event.object_type, event.object_id, event.object_label],
        "details": event.details,
        "operation": event.operation,
        "detail_source": event.detail_source,
        "detail_count": event.detail_count,
        "detail_digest": event.detail_digest,
    }


def event_hash(prev_hash: str, content: dict) -> str:
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


def record(actor, action: str, obj=None, details=None, *, operation=None, source="") -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction if there is one."""
    actor = actor_of(actor)
    object_type, object_id, object_label = object_ref(obj)
    # Inside a caller's transaction no savepoint of its own (two round trips per event): an
    # event that fails takes the caller's work with it, which is what the caller needs anyway.
    with transaction.atomic(savepoint=False):
        _lock_chain()
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        count, digest = detail_digest(source, operation)
        event = AuditEvent(
            seq=seq,
            at=timezone.now(),
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label[:300],
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_label=object_label,
            # Round-trip through the canonical form so what is hashed is what is stored.
            details=json.loads(canonical_json(details or {})),
            operation=operation,
            detail_source=source,
            detail_count=count,
            detail_digest=digest,
            prev_hash=prev_hash,
        )
        event.hash = event_hash(prev_hash, event_content(event))
        event.save(force_insert=True)
    return event


def record_denied(request, what: str, obj=None, **details) -> AuditEvent:
    """Record a failed authorization (ASVS 16.3.2): who tried what, on which object, from where."""
    details = {"path": request.path[:300], "method": request.method, **details}
    return record(request.user, f"authz.denied.{what}", obj, details)


def chain_head() -> tuple[int, str]:
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return last or (0, GENESIS_HASH)


@dataclass(frozen=True)
class Verification:
    ok: bool
    count: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str = ""

    def __str__(self):
        if self.ok:
            return f"ok: {self.count} events, head {self.head_seq} {self.head_hash}"
        return f"broken at seq {self.broken_seq}: {self.reason}"


def verify_chain() -> Verification:
    """Walk the whole chain: sequence, links, hashes and detail digests."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        problem = _check_event(event, expected_seq, prev_hash)
        if problem:
            return Verification(False, count, expected_seq - 1, prev_hash, event.seq, problem)
        expected_seq, prev_hash, count = event.seq + 1, event.hash, count + 1
    return Verification(True, count, expected_seq - 1, prev_hash)


def _check_event(event: AuditEvent, expected_seq: int, prev_hash: str) -> str:
    if event.seq != expected_seq:
        return f"expected seq {expected_seq} (an event is missing)"
    if event.prev_hash != prev_hash:
        return "prev_hash does not match the previous event's hash"
    if event_hash(prev_hash, event_content(event)) != event.hash:
        return "hash does not match the event's content (the row was changed)"
    if event.detail_source:
        if event.detail_source not in _sources:
            return f"unknown detail source {event.detail_source!r}"
        count, digest = detail_digest(event.detail_source, event.operation)
        if (count, digest) != (event.detail_count, event.detail_digest):
            return f"detail rows of {event.detail_source} do not match the digest"
    return ""
