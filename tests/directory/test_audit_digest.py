"""The digest's fast row encoder writes exactly the canonical form the verifier expects."""

import datetime as dt
import decimal
import uuid
import zoneinfo

from directory.audit import _row_encoder, canonical_json

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def test_the_row_encoder_is_canonical_json_for_repeated_and_tricky_values():
    paris = dt.datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    rows = [
        {"at": paris, "amount": decimal.Decimal("1.0"), "op": uuid.UUID(int=7)},
        # the same instant in UTC, and a decimal equal to the first but printed otherwise
        {"at": paris.astimezone(dt.UTC), "amount": decimal.Decimal("1.00"), "op": uuid.UUID(int=7)},
        {"at": dt.datetime(2026, 12, 1, 8, 0), "day": dt.date(2026, 12, 1), "name": 'Zoë "Z"\n'},
    ]
    encode = _row_encoder()
    assert [encode(row) for row in rows] == [canonical_json(row) for row in rows]
    assert encode(rows[1]) == (
        '{"amount":"1.00","at":"2026-12-01T08:00:00.000000Z",'
        '"op":"00000000-0000-0000-0000-000000000007"}'
    )
