"""Every store in Redis (redis-py, asyncio), shared by every worker and instance that points at it.

Keys live under `fluxmock:`. What must not race is one atomic step: a job update is a WATCH/MULTI
transaction (retried on conflict), a delivery is claimed by the one caller whose ZREM removed it from
the due set, a charge and a rate-limit token are Lua scripts.
"""

import asyncio
import functools
import inspect
import json

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from mock_server.errors import StoreUnavailable
from mock_server.journal_entry import JournalEntry, Pending, made

from mock_server.store.change_channel import ChangeChannel
from mock_server.store.records import Charge, Delivery, Job, dump_record, load_record
from mock_server.store.base import Stores

PREFIX = "fluxmock:"
JOB, JOBS, POLLS = PREFIX + "job:", PREFIX + "jobs", PREFIX + "polls"
DELIVERY, DELIVERIES, DUE = PREFIX + "delivery:", PREFIX + "deliveries", PREFIX + "deliveries:due"
WALLETS, RATE, JOURNAL, JOURNAL_SEQ = PREFIX + "wallets", PREFIX + "rate:", PREFIX + "journal", PREFIX + "journal:seq"
RUNTIME, RULES, RULE_USES = PREFIX + "runtime", PREFIX + "rules", PREFIX + "rule-uses"
CHANGED, ACKS = PREFIX + "runtime:changed", PREFIX + "runtime:ack:"  # a Pub/Sub channel, counters

TAKE_FROM_WALLET = """
local function take(wallets, key, amount, initial)
  redis.call('HSETNX', wallets, key, initial)
  if redis.call('HINCRBY', wallets, key, '-' .. amount) < 0 then
    redis.call('HINCRBY', wallets, key, amount)
    return false
  end
  return true
end
"""
# ^ integer micro-dollars with HINCRBY (exact to 9.2e18), never Lua's doubles: a balance of $1e11 is
#   1e17 micro-dollars, beyond the 2^53 a double holds exactly. Shared by CHARGE and CREATE.
ADD_DELIVERY = """
local function add_delivery(prefix, all, due, id, record, at)
  if not redis.call('SET', prefix .. id, record, 'NX') then return false end
  redis.call('SADD', all, id)
  if at ~= '' then redis.call('ZADD', due, at, id) end
  return true
end
"""
# ^ a delivery, unless it exists: its record, its id in the set of all, and (`at` not '': pending) in the due set.
#   Shared by ADD and CREATE, so a delivery is never half written.
ADD = ADD_DELIVERY + """
return add_delivery(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3]) and 1 or 0
"""
SAVE_DELIVERY = """
if not redis.call('SET', KEYS[1], ARGV[1], 'XX') then return 0 end
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) else redis.call('ZREM', KEYS[2], ARGV[3]) end
return 1
"""
# ^ a delivery's new state, only while it exists (a reset forgets one in flight: its result must not bring it
#   back), with its place in the due set (ARGV[2] not '': pending, due then).
CREATE = TAKE_FROM_WALLET + ADD_DELIVERY + """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
if ARGV[5] ~= '0' and not take(KEYS[3], ARGV[4], ARGV[5], ARGV[6]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
for i = 7, #ARGV, 3 do add_delivery(KEYS[4], KEYS[5], KEYS[6], ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
return 1
"""
# ^ the job, its charge and its webhook deliveries (ARGV[7..]: id, record, due or '' when not pending) in
#   one step: -1 a duplicate id, 0 the wallet cannot pay (nothing written).
RECORD = """
local last = redis.call('INCRBY', KEYS[2], #ARGV - 1)
local seq = last - #ARGV + 1
for i = 2, #ARGV do
  redis.call('LPUSH', KEYS[1], '{"seq":' .. (seq + i - 1) .. ',' .. string.sub(ARGV[i], 2))
end
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
return last
"""
# ^ a batch of entries (ARGV[2..]) in one call, each entry's JSON with "seq" put first as text: cjson would
#   turn an empty list into {}
COUNT_POLL = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
if ARGV[2] ~= '' and cjson.decode(raw)['key'] ~= ARGV[2] then return false end
return {raw, redis.call('HINCRBY', KEYS[2], ARGV[1], 1)}
"""
# ^ a poll in one round trip: the job, if it exists and is this key's, with its poll counted.
TAKE_RULE = """
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if ARGV[2] ~= '' and used >= tonumber(ARGV[2]) then return 0 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
"""
CLAIM = """
local claimed
if tonumber(ARGV[3]) then
  claimed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
else
  claimed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
for _, id in ipairs(claimed) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return claimed
"""
# ^ a claim moves the delivery's score to the end of its lease: one claimer gets it now, and if that
#   instance dies before saving it, whoever claims after the lease sends it again.
CHARGE = TAKE_FROM_WALLET + """
return take(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) and 1 or 0
"""
TAKE = """
local rate, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local capacity = math.max(1, rate)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1]) or capacity
local last = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)
local wait = -1
if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""


POOL_SIZE, POOL_WAIT, CONNECT_TIMEOUT, SOCKET_TIMEOUT = 128, 5.0, 1.0, 5.0
OUTAGE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
# uvloop raises this RuntimeError, not an OSError, when the client writes to a connection Redis has just closed
# (a kill between connecting and the client's first PING: MagicStack/uvloop#506); redis-py passes it through.
CLOSED_TRANSPORT = "the handler is closed"


def is_outage(error: BaseException) -> bool:
    """Whether an error of the Redis client means Redis is not answering (a 503), not a bug (a 500)."""
    return isinstance(error, OUTAGE) or (isinstance(error, RuntimeError) and CLOSED_TRANSPORT in str(error))


def _unavailable_on_outage(method):
    @functools.wraps(method)
    async def guarded(*args, **kwargs):
        try:
            return await method(*args, **kwargs)
        except Exception as error:
            if not is_outage(error):
                raise
            raise StoreUnavailable(f"{type(error).__name__}: {error}") from error
    return guarded


def outage_is_unavailable(cls):
    """Every public coroutine of a Redis store raises StoreUnavailable (503) when Redis does not answer,
    instead of the client library's error (a 500): an outage is the store's, not a bug's."""
    for name, member in list(vars(cls).items()):
        if inspect.iscoroutinefunction(member) and not name.startswith("_"):
            setattr(cls, name, _unavailable_on_outage(member))
    return cls


_dump = dump_record


def _delivery_args(delivery: Delivery) -> tuple[str, str, str]:
    """ADD_DELIVERY's (and SAVE_DELIVERY's) arguments: id, record, and the due time if it is pending ('' if not)."""
    return delivery.id, _dump(delivery.to_record()), repr(delivery.due) if delivery.state == "pending" else ""


async def _delete_matching(client: redis.Redis, pattern: str) -> None:
    batch = []
    async for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


class Batched:
    """Calls of one script made in the same turn of the event loop, sent to Redis in one pipeline (as
    ioredis's auto-pipelining does): under load every request's round trip and client overhead is shared by
    the requests of its turn, and a lone request waits for nothing (it is sent at the next turn)."""

    def __init__(self, client: redis.Redis, script) -> None:
        self.client, self.script = client, script
        self._waiting: list[tuple[list, list, asyncio.Future]] = []

    async def __call__(self, keys: list, args: list):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((keys, args, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._send)
        return await future

    def _send(self) -> None:
        batch, self._waiting = self._waiting, []
        asyncio.ensure_future(self._run(batch))

    async def _run(self, batch) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for keys, args, _ in batch:
                    await self.script(keys=keys, args=args, client=pipe)
                results = await pipe.execute(raise_on_error=False)
        except Exception as error:  # noqa: BLE001 - each caller gets the error (an outage: StoreUnavailable there)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (*_, future), result in zip(batch, results):
            if not future.done():
                future.set_exception(result) if isinstance(result, Exception) else future.set_result(result)


@outage_is_unavailable
class RedisJobStore:
    """A job is JSON at fluxmock:job:{id}; its poll count lives apart (fluxmock:polls), so counting a
    poll is one HINCRBY and never contends with other pollers of the same job."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._create = Batched(client, client.register_script(CREATE))
        self._poll = Batched(client, client.register_script(COUNT_POLL))

    async def create(self, job: Job, charge: Charge | None = None, deliveries: "list[Delivery]" = ()) -> bool:
        charge = charge or Charge("", 0, 0)
        planned = [value for delivery in deliveries for value in _delivery_args(delivery)]
        created = await self._create(keys=[JOB + job.request_id, JOBS, WALLETS, DELIVERY, DELIVERIES, DUE],
                                     args=[_dump(job.to_dict()), repr(job.created_at), job.request_id, charge.key,
                                           charge.amount, charge.initial, *planned])
        if created == -1:
            raise KeyError(f"duplicate request id {job.request_id}")
        return created == 1

    async def create_many(self, jobs: list[Job]) -> None:
        for start in range(0, len(jobs), 5000):
            chunk = jobs[start:start + 5000]
            async with self.client.pipeline(transaction=False) as pipe:
                for job in chunk:
                    pipe.set(JOB + job.request_id, _dump(job.to_dict()))
                pipe.zadd(JOBS, {job.request_id: job.created_at for job in chunk})
                await pipe.execute()

    async def get(self, request_id: str) -> Job | None:
        async with self.client.pipeline(transaction=False) as pipe:
            raw, polls = await pipe.get(JOB + request_id).hget(POLLS, request_id).execute()
        return Job.from_dict({**load_record(raw), "polls": int(polls or 0)}) if raw else None

    async def count_poll(self, request_id: str, key: str | None = None) -> Job | None:
        found = await self._poll(keys=[JOB + request_id, POLLS], args=[request_id, "" if key is None else key])
        if not found:
            return None
        raw, polls = found
        return Job.from_dict({**load_record(raw), "polls": polls})

    async def update_with(self, request_id, change):
        key = JOB + request_id
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        return None
                    job = change(Job.from_dict(json.loads(raw)))
                    pipe.multi()
                    pipe.set(key, _dump(job.to_dict()))
                    await pipe.execute()
                    return job
                except WatchError:
                    continue

    async def list(self) -> list[Job]:
        ids = await self.client.zrange(JOBS, 0, -1)
        polls = await self.client.hgetall(POLLS)
        jobs = []
        for start in range(0, len(ids), 1000):
            raws = await self.client.mget([JOB + i for i in ids[start:start + 1000]])
            jobs += [Job.from_dict(job | {"polls": int(polls.get(job["request_id"], 0))})
                     for job in (json.loads(raw) for raw in raws if raw)]
        return jobs

    async def page(self, offset: int, limit: int, newest_first: bool = False) -> "list[Job]":
        ids = await self.client.zrange(JOBS, offset, offset + limit - 1, desc=newest_first)
        if not ids:
            return []
        raws = await self.client.mget([JOB + request_id for request_id in ids])
        polls = await self.client.hmget(POLLS, ids)
        return [Job.from_dict(json.loads(raw) | {"polls": int(count or 0)}) for raw, count in zip(raws, polls) if raw]

    async def count(self) -> int:
        return await self.client.zcard(JOBS)

    async def evict_final(self, keep: int, now: float) -> int:
        excess = await self.client.zcard(JOBS) - keep
        if excess <= 0:
            return 0
        ids = await self.client.zrange(JOBS, 0, min(excess + 1000, 20_000) - 1)  # oldest first, some running
        final = [job.request_id for job in (await self._jobs(ids))
                 if job.transitions[1] is not None and job.transitions[1] <= now][:excess]
        if final:
            async with self.client.pipeline(transaction=False) as pipe:
                await pipe.unlink(*[JOB + request_id for request_id in final]).zrem(JOBS, *final) \
                    .hdel(POLLS, *final).execute()
        return len(final)

    async def _jobs(self, ids: "list[str]") -> "list[Job]":  # quoted: `list` is a method of this class
        raws = await self.client.mget([JOB + request_id for request_id in ids]) if ids else []
        return [Job.from_dict(json.loads(raw)) for raw in raws if raw]

    async def clear(self) -> None:
        await _delete_matching(self.client, JOB + "*")
        await self.client.unlink(JOBS, POLLS)

    async def close(self) -> None:
        await self.client.aclose()


@outage_is_unavailable
class RedisDeliveryStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._claim = client.register_script(CLAIM)
        self._add = client.register_script(ADD)
        self._save = client.register_script(SAVE_DELIVERY)

    async def add_if_absent(self, delivery: Delivery) -> bool:
        return bool(await self._add(keys=[DELIVERY, DELIVERIES, DUE], args=_delivery_args(delivery)))

    async def claim_due(self, now: float, lease: float = 60.0, limit: int | None = None) -> list[Delivery]:
        ids = await self._claim(keys=[DUE], args=[repr(now), repr(now + lease), "" if limit is None else str(limit)])
        if not ids:
            return []
        claimed = [Delivery.from_record(json.loads(raw)) for raw in await self.client.mget(
            [DELIVERY + delivery_id for delivery_id in ids]) if raw]
        async with self.client.pipeline(transaction=False) as pipe:
            for delivery in claimed:
                delivery.state, delivery.lease_until = "sending", now + lease
                pipe.set(DELIVERY + delivery.id, _dump(delivery.to_record()))
            await pipe.execute()
        return sorted(claimed, key=lambda d: d.due)

    async def save(self, delivery: Delivery) -> None:
        delivery_id, record, due = _delivery_args(delivery)
        await self._save(keys=[DELIVERY + delivery_id, DUE], args=[record, due, delivery_id])

    async def next_due(self) -> float | None:
        first = await self.client.zrange(DUE, 0, 0, withscores=True)
        return first[0][1] if first else None

    async def list(self) -> list[Delivery]:
        ids = sorted(await self.client.smembers(DELIVERIES))
        raws = await self.client.mget([DELIVERY + i for i in ids]) if ids else []
        return [Delivery.from_record(json.loads(raw)) for raw in raws if raw]

    async def clear(self) -> None:
        await _delete_matching(self.client, DELIVERY + "*")
        await self.client.unlink(DELIVERIES, DUE)


@outage_is_unavailable
class RedisWalletStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._charge = client.register_script(CHARGE)

    async def balance(self, key: str, initial: int) -> int:
        value = await self.client.hget(WALLETS, key)
        return initial if value is None else int(value)

    async def charge(self, key: str, amount: int, initial: int) -> bool:
        return bool(await self._charge(keys=[WALLETS], args=[key, amount, initial]))

    async def set(self, key: str, amount: int) -> None:
        await self.client.hset(WALLETS, key, amount)

    async def all(self) -> dict[str, int]:
        return {key: int(value) for key, value in (await self.client.hgetall(WALLETS)).items()}

    async def clear(self) -> None:
        await self.client.unlink(WALLETS)


@outage_is_unavailable
class RedisRateStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._take = client.register_script(TAKE)

    async def take(self, key: str, rate: float, now: float) -> float | None:
        wait = float(await self._take(keys=[RATE + key], args=[repr(rate), repr(now)]))
        return None if wait < 0 else wait

    async def clear(self) -> None:
        await _delete_matching(self.client, RATE + "*")


@outage_is_unavailable
class RedisJournalStore:
    """Entries are written in batches: `record` only queues one, and a flush a few milliseconds later sends
    every queued entry in one script call, so a request costs Redis no journal round trip of its
    own. Reading the journal flushes first. Entries queued when Redis is down are counted as dropped."""

    FLUSH_AFTER = 0.005
    BATCH = 1000  # entries a script call takes (Lua's stack bounds a call's arguments)

    def __init__(self, client: redis.Redis, size: int) -> None:
        self.client = client
        self.size = size
        self._record = client.register_script(RECORD)
        self._queued: list[str] = []
        self._flushing: asyncio.Task | None = None
        self.dropped = 0

    async def record(self, entry: "JournalEntry | Pending") -> None:
        wire = made(entry).to_wire()
        del wire["seq"], wire["time"]  # RECORD numbers it; the time is written when it is read
        self._queued.append(_dump(wire).lstrip())  # RECORD splices "seq" in after the opening brace
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.FLUSH_AFTER)
        try:
            await self.flush()
        except StoreUnavailable:
            pass  # counted in flush; the next entries try again

    async def flush(self) -> None:
        batch, self._queued = self._queued, []
        if not batch:
            return
        try:
            for start in range(0, len(batch), self.BATCH):
                await self._record(keys=[JOURNAL, JOURNAL_SEQ], args=[self.size, *batch[start:start + self.BATCH]])
        except Exception as error:
            if is_outage(error):
                self.dropped += len(batch) - start
            raise

    async def entries(self) -> list[JournalEntry]:
        await self.flush()
        return sorted((JournalEntry.from_wire(json.loads(raw)) for raw in await self.client.lrange(JOURNAL, 0, -1)),
                      key=lambda entry: entry.seq)

    async def clear(self) -> None:
        self._queued = []
        await self.client.unlink(JOURNAL)


@outage_is_unavailable
class RedisRuntimeStore:
    """The run-time state in one hash (offset, timing, version), the rules in a list, each rule's uses
    counted by a Lua script (so `times` holds across instances). Every change bumps the version and is
    announced on a ChangeChannel: while this instance follows it (`current`), requests use the copy it
    keeps and read nothing; otherwise they read the state themselves."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._take = client.register_script(TAKE_RULE)
        self._channel = ChangeChannel(client, CHANGED, ACKS)

    @property
    def current(self) -> bool:
        return self._channel.current

    def follow(self, take_up) -> None:
        self._channel.follow(take_up)

    async def stop_following(self) -> None:
        await self._channel.stop()

    async def ping(self) -> None:
        await self.client.ping()

    async def snapshot(self) -> dict:
        data = await self.client.hgetall(RUNTIME)
        timing = data.get("timing")
        return {"offset": float(data.get("offset", 0)), "timing": json.loads(timing) if timing else None,
                "version": int(data.get("version", 0))}

    async def _change(self, *commands) -> list:
        """Run (name, *args) commands with the version bump in one transaction, then announce the change."""
        async with self.client.pipeline(transaction=True) as pipe:
            for name, *args in commands:
                getattr(pipe, name)(*args)
            results = await pipe.hincrby(RUNTIME, "version", 1).execute()
        await self._channel.announce()
        return results

    async def add_offset(self, seconds: float) -> None:
        await self._change(("hincrbyfloat", RUNTIME, "offset", seconds))

    async def set_timing(self, timing: dict | None) -> None:
        await self._change(("hdel", RUNTIME, "timing") if timing is None
                           else ("hset", RUNTIME, "timing", _dump(timing)))

    async def rules(self) -> list[dict]:
        return [json.loads(raw) for raw in await self.client.lrange(RULES, 0, -1)]

    async def add_rule(self, rule: dict) -> None:
        await self._change(("rpush", RULES, _dump(rule)))

    async def delete_rule(self, rule_id: str) -> bool:
        for raw in await self.client.lrange(RULES, 0, -1):
            if json.loads(raw)["id"] == rule_id:
                removed, _ = await self._change(("lrem", RULES, 1, raw))
                return bool(removed)
        return False

    async def take(self, rule_id: str, times: int | None) -> int:
        return int(await self._take(keys=[RULE_USES], args=[rule_id, "" if times is None else times]))

    async def uses(self) -> dict[str, int]:
        return {rule_id: int(count) for rule_id, count in (await self.client.hgetall(RULE_USES)).items()}

    async def clear(self) -> None:
        await self._change(("unlink", RULES, RULE_USES), ("hdel", RUNTIME, "offset", "timing"))


def redis_stores(url: str, journal_size: int) -> Stores:
    """Stores on one client whose pool waits for a free connection (up to POOL_WAIT s) instead of raising,
    and whose connections give up fast on a Redis that does not answer (a 503, not a hang): one immediate
    retry (a pooled connection gone stale across a Redis restart), not the client's default backoff of
    seconds."""
    pool = redis.BlockingConnectionPool.from_url(url, decode_responses=True, max_connections=POOL_SIZE,
                                                 timeout=POOL_WAIT, socket_connect_timeout=CONNECT_TIMEOUT,
                                                 socket_timeout=SOCKET_TIMEOUT, health_check_interval=10,
                                                 retry=Retry(NoBackoff(), retries=1))
    client = redis.Redis(connection_pool=pool)
    return Stores(RedisJobStore(client), RedisDeliveryStore(client), RedisWalletStore(client), RedisRateStore(client),
                  RedisJournalStore(client, journal_size), RedisRuntimeStore(client), shared=True)
