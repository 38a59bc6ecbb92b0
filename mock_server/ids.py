"""Request ids as the gateway makes them.

Queue API: `{model_id}_` and 8-4-4-4-13 hex digits, the first 48 bits the Unix time in milliseconds, the 13th
digit 7: the layout of all four real ids known (page 003's example and three in public code, ../shared/evidence
E03), which are no RFC 9562 UUIDs (13 digits in the last group, any digit where the variant goes). A client
that parses them as UUIDs, or keeps them in a `uuid` column, fails live; minted so, it fails here too. Unique
(74 random bits) and ordered by the millisecond they were made in. Schnell Batch: a bare UUID (page 001)."""

import os
import random
import uuid

# The random bits of ids: a generator of the process's own, seeded from the OS (a system call for each id cost a
# served submit 4 % of its time), reseeded in a forked child so two processes never share a sequence. Not the
# module's shared generator, which tests and --seed may seed: ids stay unique whatever is seeded.
_bits = random.Random()
os.register_at_fork(after_in_child=_bits.seed)


def gateway_id(epoch_seconds: float) -> str:
    """8-4-4-4-13 hex: 48-bit Unix milliseconds, then `7` and 80 random bits, grouped as the gateway groups them."""
    millis = int(epoch_seconds * 1000) & ((1 << 48) - 1)
    rand = f"{_bits.getrandbits(80):020x}"  # 20 hex digits: 3 + 4 + 13
    stamp = f"{millis:012x}"
    return f"{stamp[:8]}-{stamp[8:]}-7{rand[:3]}-{rand[3:7]}-{rand[7:20]}"


def queue_request_id(model_id: str, epoch_seconds: float) -> str:
    return f"{model_id}_{gateway_id(epoch_seconds)}"


def batch_request_id() -> str:
    return str(uuid.UUID(int=_bits.getrandbits(128), version=4))
