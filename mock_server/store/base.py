"""The JobStore protocol: all the handlers know of storage."""

from typing import Protocol

from mock_server.jobs.lifecycle import Job


class JobStore(Protocol):
    async def create(self, job: Job) -> None:
        """Store a new job; its request_id is unique."""

    async def get(self, request_id: str) -> Job | None:
        """The job, or None if there is no such job."""

    async def update(self, job: Job) -> None:
        """Replace the stored job that has this request_id."""

    async def list(self) -> list[Job]:
        """Every job, oldest first."""

    async def count(self) -> int:
        """How many jobs are stored."""

    async def clear(self) -> None:
        """Forget every job."""
