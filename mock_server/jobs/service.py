"""The job service: applies the lifecycle with the store and the clock, and tells one listener (the webhook
dispatcher) what it made and changed."""

from typing import Protocol

from mock_server.clock import Clock
from mock_server.errors import BadRequest, InsufficientBalance, RequestNotFound, StoreUnavailable
from mock_server.ids import queue_request_id
from mock_server.jobs import lifecycle
from mock_server.jobs.timing import Timing
from mock_server.store.records import Charge, Delivery, Job
from mock_server.store.base import JobStore


EVICTION_EVERY = 100  # submits between two looks at the store's size


class JobListener(Protocol):
    """What the service tells of its jobs (the webhook dispatcher is one)."""

    def deliveries_for(self, job: Job) -> list[Delivery]:
        """The deliveries to store with a new job, in the same atomic step (pure: no I/O)."""

    async def created(self, job: Job, deliveries: list[Delivery]) -> None:
        """After a job was stored with those deliveries."""

    async def changed(self, job: Job) -> None:
        """After every poll and advance."""


class Unheard:
    """The listener of a service nobody listens to."""

    def deliveries_for(self, job: Job) -> list[Delivery]:
        return []

    async def created(self, job: Job, deliveries: list[Delivery]) -> None:
        return None

    async def changed(self, job: Job) -> None:
        return None


class JobService:
    def __init__(self, store: JobStore, clock: Clock, timing, max_jobs: int,
                 listener: JobListener = Unheard(), durations=None) -> None:
        self.store = store
        self.clock = clock
        self._timing = timing  # a callable: the Timing in force now
        # a callable: (Timing) -> the next job's seconds QUEUED and PROCESSING (drawn, under observed)
        self._durations = durations or (lambda timing: (timing.queued_for, timing.processing_for))
        self.listener = listener
        self.max_jobs = max_jobs
        self._submitted = 0

    async def _changed(self, job: Job) -> Job:
        await self.listener.changed(job)
        return job

    @property
    def timing(self) -> Timing:
        return self._timing()

    async def submit(self, job: Job, charge: Charge | None = None, instant: bool = False) -> Job:
        """Store the job, scheduled by the timing in force, with its charge and its webhook deliveries (one
        atomic step: a kept job is never without them); InsufficientBalance if the wallet cannot pay. An
        `instant` job is final as it is created, whatever the timing."""
        timing = self.timing
        if instant:
            job = lifecycle.scheduled(job.evolved(mode="time"), 0, 0)
        else:
            job = lifecycle.scheduled(job.evolved(mode=timing.lifecycle_mode), *self._durations(timing))
        deliveries = self.listener.deliveries_for(job)
        if not await self.store.create(job, charge, deliveries):
            raise InsufficientBalance()
        self._submitted += 1
        try:
            await self.listener.created(job, deliveries)
        except StoreUnavailable:
            pass  # the job and its deliveries are stored: answer for it; the dispatcher finds them
        if self._submitted % EVICTION_EVERY == 0:
            try:
                await self.store.evict_final(self.max_jobs, job.created_at)
            except StoreUnavailable:
                pass  # the job is kept and answered; the next look evicts
        return job

    async def seed(self, count: int, key: str, model_id: str, operation_id: str, media: tuple[str, ...]) -> str:
        """Store `count` finished jobs at once (benchmarks, large-store tests); the id of the last one. A 400 if
        the store would then hold more than `max_jobs` (seeding evicts nothing: the jobs are what was asked for)."""
        held = await self.store.count()
        if held + count > self.max_jobs:
            raise BadRequest(f"count: {count:,} more jobs would make {held + count:,}, beyond max_jobs "
                             f"({self.max_jobs:,}); at most {max(0, self.max_jobs - held):,} can be seeded now")
        now = self.clock.now()
        jobs = [Job(request_id=queue_request_id(model_id, now), operation_id=operation_id, model_id=model_id, key=key,
                    created_at=now, transitions=(now, now), media=media) for _ in range(count)]
        await self.store.create_many(jobs)
        return jobs[-1].request_id

    async def find(self, request_id: str, key: str | None = None) -> Job:
        """The job; 404 if there is none, or it belongs to another key."""
        job = await self.store.get(request_id)
        if job is None or (key is not None and job.key != key):
            raise RequestNotFound(request_id)
        return job

    async def poll(self, request_id: str, key: str, now: float) -> Job:
        """The job after one status poll at `now` (the moment the poll's answer describes)."""
        job = await self.store.count_poll(request_id, key)  # one round trip on a shared store
        if job is None:
            raise RequestNotFound(request_id)
        if job.mode == "per-poll" and not lifecycle.is_final(job, now):  # the only poll that changes a job
            changed = await self.store.update_with(request_id, lambda current: lifecycle.polled(current, now))
            job = changed.evolved(polls=job.polls)
        return await self._changed(job)

    async def advance(self, request_id: str, to_end: bool = False, outcome: str | None = None,
                      error: str | None = None) -> Job:
        """One state forward, or to the end; `outcome` changes how a job not yet final ends (and `error` why)."""
        await self.find(request_id)
        now = self.clock.now()
        return await self._changed(await self.store.update_with(
            request_id, lambda job: lifecycle.advanced(lifecycle.ending(job, now, outcome, error), now, to_end)))
