"""Outcome events: the terminal transitions, published in-process and with NOTIFY."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from rota.core.job import JobStatus

OUTCOME_NAMES = {
    JobStatus.SUCCEEDED: "Completed",
    JobStatus.FAILED: "Failed",
    JobStatus.POISONED: "Poisoned",
    JobStatus.CANCELLED: "Cancelled",
}


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    job_id: UUID
    type: str
    queue: str
    tenant_id: str | None
    status: JobStatus
    attempt: int
    error_code: str | None = None

    @property
    def name(self) -> str:
        """The seeds' name of the outcome: Completed, Failed, Poisoned or Cancelled."""
        return OUTCOME_NAMES[self.status]

    @classmethod
    def from_notification(cls, payload: str) -> list[OutcomeEvent]:
        """The events of one NOTIFY payload: one JSON object, or an array of them."""
        data = json.loads(payload)
        return [cls._of(item) for item in (data if isinstance(data, list) else [data])]

    @classmethod
    def _of(cls, data: dict[str, Any]) -> OutcomeEvent:
        return cls(
            job_id=UUID(data["jobId"]),
            type=data["type"],
            queue=data["queue"],
            tenant_id=data.get("tenantId"),
            status=JobStatus(data["status"]),
            attempt=int(data["attempt"]),
            error_code=data.get("errorCode"),
        )
