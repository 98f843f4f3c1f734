from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def count_of(model, fk: str, **conditions) -> Coalesce:
    """A correlated COUNT(*) of model rows pointing at the outer row (0 when none).

    A subquery per count, not JOIN + COUNT(DISTINCT): joining members and owners together
    would multiply the rows of every group before counting them; each subquery is one probe of
    the index that leads with `fk`.
    """
    rows = (
        model.objects.filter(**{fk: OuterRef("pk")}, **conditions)
        .order_by()
        .values(fk)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))
