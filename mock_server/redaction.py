"""What the journal and the logs may show of secrets: API keys as `abcd...wxyz` (the whole key only with
`show_keys`), and bounded copies of whatever a client sent, so no client can make an entry large."""

FIELD_LIMIT = 2048
SHORT_FIELD = 256
LIST_LIMIT = 50


def mask_key(key: str | None, show: bool = False) -> str | None:
    """`abcd...wxyz` for a key longer than 12 characters; shorter ones (test keys) as they are."""
    if key is None or show or len(key) <= 12:
        return key
    return f"{key[:4]}...{key[-4:]}"


def clipped(text: str | None, limit: int = FIELD_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def clipped_list(items, limit: int = LIST_LIMIT, each: int = 500) -> list:
    if not items:
        return []
    kept = [clipped(str(item), each) for item in list(items)[:limit]]
    return kept + [f"... and {len(items) - limit} more"] if len(items) > limit else kept
