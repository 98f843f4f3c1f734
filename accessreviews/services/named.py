"""Who a running stage names, read from the instance's snapshot (never the edited series).

Re-resolve and the opening of a later stage both need the stage's people as start.py's link
builders take them, (item_id, reviewer_id) rows; a group named on the stage counts its members
at any depth, through directory.access.members_at_any_depth, the builder start.people() uses.
"""

from accessreviews.choices import ReviewerType
from accessreviews.services.start import T, reviewer_candidates
from directory.access import members_at_any_depth


def named_people(user_ids, group_ids, instance):
    """SQL selecting (item_id, reviewer_id): every item of the instance with each named user
    and each member, at any depth, of the named groups; None when nobody is named."""
    parts, params = [], []
    if user_ids:
        marks = ", ".join(["%s"] * len(user_ids))
        parts.append(f"SELECT u.id AS user_id FROM {T['user']} u WHERE u.id IN ({marks})")
        params += list(user_ids)
    if group_ids:
        marks = ", ".join(["%s"] * len(group_ids))
        members_sql, members_params = members_at_any_depth(
            f"SELECT g.id AS group_id FROM {T['group']} g WHERE g.id IN ({marks})", group_ids
        )
        parts.append(f"SELECT gm.user_id FROM ({members_sql}) gm")
        params += members_params
    if not parts:
        return None
    return (
        f"SELECT i.id AS item_id, x.user_id AS reviewer_id FROM {T['item']} i "
        f"JOIN ({' UNION '.join(parts)}) x ON 1 = 1 WHERE i.instance_id = %s",
        [*params, instance.pk],
    )


def stage_people(spec: dict, instance):
    """(reviewers, fallbacks) of the snapshot's stage `spec`, each SQL as above or None."""
    reviewer_type = spec["reviewer_type"]
    if reviewer_type == ReviewerType.SELECTED:
        reviewers = named_people(spec["reviewer_user_ids"], spec["reviewer_group_ids"], instance)
    else:
        # Owners, managers and the principals themselves come from the directory as it is now.
        reviewers = reviewer_candidates(reviewer_type, instance, None)
    fallbacks = named_people(spec["fallback_user_ids"], spec["fallback_group_ids"], instance)
    return reviewers, fallbacks
