from django.apps import AppConfig


class AccessReviewsConfig(AppConfig):
    name = "accessreviews"
    verbose_name = "Access reviews"

    def ready(self):
        from accessreviews.models import DecisionHistory
        from directory import append_only, audit

        # Decision history is evidence: append-only in the database, and every operation's
        # rows are digested into its audit event (DESIGN.md "Audit digests").
        append_only.register_append_only(DecisionHistory._meta.db_table)
        audit.register_detail_source(
            "accessreviews.DecisionHistory",
            DecisionHistory,
            operation_field="audit_operation",
            fields=(
                "item_id",
                "stage_ordinal",
                "before",
                "after",
                "source",
                "justification",
                "actor_id",
                "at",
            ),
        )
