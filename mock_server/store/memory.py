"""Jobs in a dict: the embedded default and the reference implementation of JobStore."""

from mock_server.jobs.lifecycle import Job


class MemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    async def create(self, job: Job) -> None:
        if job.request_id in self._jobs:
            raise KeyError(f"duplicate request id {job.request_id}")
        self._jobs[job.request_id] = job

    async def get(self, request_id: str) -> Job | None:
        return self._jobs.get(request_id)

    async def update(self, job: Job) -> None:
        if job.request_id not in self._jobs:
            raise KeyError(f"no job {job.request_id}")
        self._jobs[job.request_id] = job

    async def list(self) -> list[Job]:
        return list(self._jobs.values())

    async def count(self) -> int:
        return len(self._jobs)

    async def clear(self) -> None:
        self._jobs.clear()
