from enum import StrEnum


class JobState(StrEnum):
    FAILURE = "FAILURE"
    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"

    def __str__(self) -> str:
        return str(self.value)
