"""Request ids as the gateway makes them: `{model_id}_{UUIDv7}` (queue API), a bare UUID (Schnell Batch)."""

import os
import uuid


def uuid7(epoch_seconds: float) -> uuid.UUID:
    """A version-7 UUID (RFC 9562): 48-bit Unix milliseconds, then random bits."""
    millis = int(epoch_seconds * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def queue_request_id(model_id: str, epoch_seconds: float) -> str:
    return f"{model_id}_{uuid7(epoch_seconds)}"


def batch_request_id() -> str:
    return str(uuid.uuid4())
