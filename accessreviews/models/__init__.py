from accessreviews.models.definitions import DefinitionStage, ReviewDefinition
from accessreviews.models.heartbeat import SchedulerHeartbeat

__all__ = ["DefinitionStage", "ReviewDefinition", "SchedulerHeartbeat"]
