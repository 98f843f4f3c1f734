"""Set-based seeding of the rows benchmarks start from (one INSERT ... SELECT over a series)."""

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from directory.models import User, UserType

TIME_ZONES = ("", "Europe/Paris", "America/New_York", "Asia/Tokyo")


def series_sql(count_param: str = "%s") -> str:
    """A one-column `n(i)` of 1..count, as a FROM-able subquery on both databases."""
    if connection.vendor == "postgresql":
        return f"(SELECT generate_series(1, {count_param}) AS i) AS n"
    return (
        f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count_param})"
        " SELECT i FROM s) AS n"
    )


def uuid_sql() -> str:
    if connection.vendor == "postgresql":
        return "gen_random_uuid()"
    return "lower(hex(randomblob(16)))"  # how Django stores a UUIDField on SQLite


def create_users(count: int, prefix: str):
    """`count` active members with an address and a usable password, in one statement.

    Returns them as a queryset over their id range. Every fourth has no time zone (the
    portal's is used); the others rotate through a few, so rendering converts instants.
    """
    table = User._meta.db_table
    zones = " ".join(f"WHEN {k} THEN '{zone}'" for k, zone in enumerate(TIME_ZONES))
    sql = (
        f"INSERT INTO {table} (uuid, password, last_login, user_principal_name, display_name,"
        " email, user_type, is_active, guest_invitation_accepted, manager_id, department,"
        " job_title, time_zone, last_sign_in_at, external_id, created_at, deleted_at,"
        " is_superuser)"
        f" SELECT {uuid_sql()}, %s, NULL, %s || CAST(n.i AS TEXT) || %s,"
        " %s || CAST(n.i AS TEXT), %s || CAST(n.i AS TEXT) || %s, %s, %s, %s, NULL, %s, %s,"
        f" CASE n.i %% {len(TIME_ZONES)} {zones} END, NULL, '', %s, NULL, %s"
        f" FROM {series_sql()}"
    )
    params = [
        make_password("benchmark-password"),  # usable: no set-password link in the email
        f"{prefix}.",
        "@contoso.example",
        f"Bench {prefix} ",
        f"{prefix}.",
        "@contoso.example",
        UserType.MEMBER,
        True,
        True,
        "Engineering",
        "Engineer",
        timezone.now(),
        False,
        count,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount not in (-1, count):
            raise RuntimeError(f"seeded {cursor.rowcount} users, not {count}")
    users = User.objects.filter(user_principal_name__startswith=f"{prefix}.")
    first, last = (
        users.order_by("id").values_list("id", flat=True).first(),
        users.order_by("-id").values_list("id", flat=True).first(),
    )
    seeded = User.objects.filter(id__gte=first, id__lte=last)
    if last - first + 1 != count or seeded.count() != count:
        raise RuntimeError(f"the {count} seeded users are not one id range")
    return seeded
