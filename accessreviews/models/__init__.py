from accessreviews.models.definitions import DefinitionStage, ReviewDefinition
from accessreviews.models.heartbeat import SchedulerHeartbeat
from accessreviews.models.instances import (
    ApplyResult,
    DecisionHistory,
    DecisionItem,
    DecisionSource,
    InstanceStatus,
    ItemReviewer,
    ItemStageHistory,
    Recommendation,
    ReviewerAssignment,
    ReviewerReason,
    ReviewInstance,
    ReviewStage,
    StageStatus,
)

__all__ = [
    "ApplyResult",
    "DecisionHistory",
    "DecisionItem",
    "DecisionSource",
    "DefinitionStage",
    "InstanceStatus",
    "ItemReviewer",
    "ItemStageHistory",
    "Recommendation",
    "ReviewDefinition",
    "ReviewInstance",
    "ReviewStage",
    "ReviewerAssignment",
    "ReviewerReason",
    "SchedulerHeartbeat",
    "StageStatus",
]
