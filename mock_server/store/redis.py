"""Every store in Redis (redis-py, asyncio), shared by every worker and instance that points at it.

Keys live under `fluxmock:`. What must not race is one atomic step: a job update is a WATCH/MULTI
transaction (retried on conflict), a delivery is claimed by the one caller whose ZREM removed it from
the due set, a charge and a rate-limit token are Lua scripts.
"""

import json

import redis.asyncio as redis
from redis.exceptions import WatchError

from mock_server.store.records import Delivery, Job
from mock_server.store.base import Stores

PREFIX = "fluxmock:"
JOB, JOBS, POLLS = PREFIX + "job:", PREFIX + "jobs", PREFIX + "polls"
DELIVERY, DELIVERIES, DUE = PREFIX + "delivery:", PREFIX + "deliveries", PREFIX + "deliveries:due"
WALLETS, RATE, JOURNAL, JOURNAL_SEQ = PREFIX + "wallets", PREFIX + "rate:", PREFIX + "journal", PREFIX + "journal:seq"
RUNTIME, RULES, RULE_USES = PREFIX + "runtime", PREFIX + "rules", PREFIX + "rule-uses"

CREATE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0
"""
RECORD = """
local seq = redis.call('INCR', KEYS[2])
redis.call('LPUSH', KEYS[1], '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return seq
"""
# ^ the entry's JSON with "seq" put first as text: cjson would turn an empty list into {}
TAKE_RULE = """
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if ARGV[2] ~= '' and used >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
"""
CLAIM = """
local claimed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  if redis.call('ZREM', KEYS[1], id) == 1 then table.insert(claimed, id) end
end
return claimed
"""
CHARGE = """
local balance = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[3])
local amount = tonumber(ARGV[2])
if amount > balance then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], balance - amount)
return 1
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


def _dump(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"))


async def _delete_matching(client: redis.Redis, pattern: str) -> None:
    batch = []
    async for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


class RedisJobStore:
    """A job is JSON at fluxmock:job:{id}; its poll count lives apart (fluxmock:polls), so counting a
    poll is one HINCRBY and never contends with other pollers of the same job."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._create = client.register_script(CREATE)

    async def create(self, job: Job) -> None:
        created = await self._create(keys=[JOB + job.request_id, JOBS],
                                     args=[_dump(job.to_dict()), repr(job.created_at), job.request_id])
        if not created:
            raise KeyError(f"duplicate request id {job.request_id}")

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
        return Job.from_dict({**json.loads(raw), "polls": int(polls or 0)}) if raw else None

    async def count_poll(self, request_id: str) -> Job | None:
        async with self.client.pipeline(transaction=False) as pipe:
            raw, polls = await pipe.get(JOB + request_id).hincrby(POLLS, request_id, 1).execute()
        if raw is None:
            await self.client.hdel(POLLS, request_id)
            return None
        return Job.from_dict({**json.loads(raw), "polls": polls})

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

    async def count(self) -> int:
        return await self.client.zcard(JOBS)

    async def clear(self) -> None:
        await _delete_matching(self.client, JOB + "*")
        await self.client.unlink(JOBS, POLLS)

    async def close(self) -> None:
        await self.client.aclose()


class RedisDeliveryStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._claim = client.register_script(CLAIM)

    async def add_if_absent(self, delivery: Delivery) -> bool:
        if not await self.client.set(DELIVERY + delivery.id, _dump(delivery.to_record()), nx=True):
            return False
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(DELIVERIES, delivery.id)
            if delivery.state == "pending":
                pipe.zadd(DUE, {delivery.id: delivery.due})
            await pipe.execute()
        return True

    async def claim_due(self, now: float) -> list[Delivery]:
        claimed = []
        for delivery_id in await self._claim(keys=[DUE], args=[repr(now)]):
            raw = await self.client.get(DELIVERY + delivery_id)
            if raw:
                delivery = Delivery.from_record(json.loads(raw))
                delivery.state = "sending"
                await self.client.set(DELIVERY + delivery.id, _dump(delivery.to_record()))
                claimed.append(delivery)
        return sorted(claimed, key=lambda d: d.due)

    async def save(self, delivery: Delivery) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(DELIVERY + delivery.id, _dump(delivery.to_record()))
            if delivery.state == "pending":
                pipe.zadd(DUE, {delivery.id: delivery.due})
            else:
                pipe.zrem(DUE, delivery.id)
            await pipe.execute()

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


class RedisRateStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._take = client.register_script(TAKE)

    async def take(self, key: str, rate: float, now: float) -> float | None:
        wait = float(await self._take(keys=[RATE + key], args=[repr(rate), repr(now)]))
        return None if wait < 0 else wait

    async def clear(self) -> None:
        await _delete_matching(self.client, RATE + "*")


class RedisJournalStore:
    def __init__(self, client: redis.Redis, size: int) -> None:
        self.client = client
        self.size = size
        self._record = client.register_script(RECORD)

    async def record(self, entry: dict) -> dict:
        seq = await self._record(keys=[JOURNAL, JOURNAL_SEQ], args=[_dump(entry), self.size])
        return {"seq": seq, **entry}

    async def entries(self) -> list[dict]:
        return sorted((json.loads(raw) for raw in await self.client.lrange(JOURNAL, 0, -1)), key=lambda e: e["seq"])

    async def clear(self) -> None:
        await self.client.unlink(JOURNAL)


class RedisRuntimeStore:
    """The run-time state in one hash (offset, timing, rules version) read with one HGETALL a request; the
    rules in a list; each rule's uses counted by a Lua script, so `times` holds across instances."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._take = client.register_script(TAKE_RULE)

    async def snapshot(self) -> dict:
        data = await self.client.hgetall(RUNTIME)
        timing = data.get("timing")
        return {"offset": float(data.get("offset", 0)), "timing": json.loads(timing) if timing else None,
                "version": int(data.get("version", 0))}

    async def add_offset(self, seconds: float) -> None:
        await self.client.hincrbyfloat(RUNTIME, "offset", seconds)

    async def set_timing(self, timing: dict | None) -> None:
        if timing is None:
            await self.client.hdel(RUNTIME, "timing")
        else:
            await self.client.hset(RUNTIME, "timing", _dump(timing))

    async def rules(self) -> list[dict]:
        return [json.loads(raw) for raw in await self.client.lrange(RULES, 0, -1)]

    async def add_rule(self, rule: dict) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            await pipe.rpush(RULES, _dump(rule)).hincrby(RUNTIME, "version", 1).execute()

    async def delete_rule(self, rule_id: str) -> bool:
        for raw in await self.client.lrange(RULES, 0, -1):
            if json.loads(raw)["id"] == rule_id:
                async with self.client.pipeline(transaction=True) as pipe:
                    removed, _ = await pipe.lrem(RULES, 1, raw).hincrby(RUNTIME, "version", 1).execute()
                return bool(removed)
        return False

    async def take(self, rule_id: str, times: int | None) -> bool:
        return bool(await self._take(keys=[RULE_USES], args=[rule_id, "" if times is None else times]))

    async def uses(self) -> dict[str, int]:
        return {rule_id: int(count) for rule_id, count in (await self.client.hgetall(RULE_USES)).items()}

    async def clear(self) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            await pipe.unlink(RULES, RULE_USES).hdel(RUNTIME, "offset", "timing").hincrby(RUNTIME, "version", 1) \
                .execute()


def redis_stores(url: str, journal_size: int) -> Stores:
    client = redis.Redis.from_url(url, decode_responses=True)
    return Stores(RedisJobStore(client), RedisDeliveryStore(client), RedisWalletStore(client), RedisRateStore(client),
                  RedisJournalStore(client, journal_size), RedisRuntimeStore(client), shared=True)
