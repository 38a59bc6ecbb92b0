"""Request ids as the gateway makes them.

Queue API: `{model_id}_` and 8-4-4-4-13 hex digits, the first 48 bits the Unix time in milliseconds, the 13th
digit 7: the layout of all four real ids known (page 003's example and three in public code, ../shared/evidence
E03), which are no RFC 9562 UUIDs (13 digits in the last group, any digit where the variant goes). A client
that parses them as UUIDs, or keeps them in a `uuid` column, fails live; minted so, it fails here too. Unique
(74 random bits) and ordered by the millisecond they were made in. Schnell Batch: a bare UUID (page 001)."""

import os
import uuid


def gateway_id(epoch_seconds: float) -> str:
    """8-4-4-4-13 hex: 48-bit Unix milliseconds, then `7` and 80 random bits, grouped as the gateway groups them."""
    millis = int(epoch_seconds * 1000) & ((1 << 48) - 1)
    rand = os.urandom(10).hex()  # 20 hex digits: 3 + 4 + 13
    stamp = f"{millis:012x}"
    return f"{stamp[:8]}-{stamp[8:]}-7{rand[:3]}-{rand[3:7]}-{rand[7:20]}"


def queue_request_id(model_id: str, epoch_seconds: float) -> str:
    return f"{model_id}_{gateway_id(epoch_seconds)}"


def batch_request_id() -> str:
    return str(uuid.uuid4())
