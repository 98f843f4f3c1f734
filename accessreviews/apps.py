from django.apps import AppConfig


class AccessReviewsConfig(AppConfig):
    name = "accessreviews"
    verbose_name = "Access reviews"

    def ready(self):
        from accessreviews.models import DecisionHistory
        from accessreviews.services.verify import on_directory_imported
        from directory import append_only, audit, signals

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
        # Verification runs again after every directory import (the arrow stays one-way:
        # the directory sends a signal and knows nothing of reviews).
        signals.directory_imported.connect(on_directory_imported, dispatch_uid="verify_imported")
