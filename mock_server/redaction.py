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


def clipped_list(items, limit: int = LIST_LIMIT, each: int = 500) -> tuple[str, ...]:
    if not items:
        return ()
    kept = tuple(clipped(str(item), each) for item in list(items)[:limit])
    return (*kept, f"... and {len(items) - limit} more") if len(items) > limit else kept


BODY_BUDGET = 4096  # what a journaled body keeps in all: a unit per value, and a string's characters
BODY_STRING = 256  # characters of one string
BODY_ITEMS = 50  # items of one list or object
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-admin-token"})


def clipped_json(value, budget: list[int] | None = None, depth: int = 0):
    """A bounded copy of a JSON value for the journal: each string to BODY_STRING characters, each list and
    object to BODY_ITEMS items, 8 levels, BODY_BUDGET units in all (a unit per value, and a string's
    characters), so however the body nests the copy stays small; what is cut says so."""
    budget = budget if budget is not None else [BODY_BUDGET]
    if budget[0] <= 0:
        return "... (clipped)"
    budget[0] -= 1
    if isinstance(value, (dict, list)) and depth >= 8:
        marker = f"... ({len(value)} items deeper than 8 levels)"
        budget[0] -= len(marker)
        return marker
    if isinstance(value, dict):
        kept = {str(key): clipped_json(item, budget, depth + 1) for key, item in list(value.items())[:BODY_ITEMS]}
        return {**kept, "...": f"{len(value) - BODY_ITEMS} more fields"} if len(value) > BODY_ITEMS else kept
    if isinstance(value, list):
        kept = [clipped_json(item, budget, depth + 1) for item in value[:BODY_ITEMS]]
        return kept + [f"... {len(value) - BODY_ITEMS} more items"] if len(value) > BODY_ITEMS else kept
    if isinstance(value, str):
        text = clipped(value, min(BODY_STRING, max(budget[0], 16)))
        budget[0] -= len(text)
        return text
    return value


def json_size(value) -> int:
    """About the characters a (clipped) JSON value takes."""
    if isinstance(value, dict):
        return 2 + sum(len(str(key)) + 4 + json_size(item) for key, item in value.items())
    if isinstance(value, list):
        return 2 + sum(1 + json_size(item) for item in value)
    return len(value) + 2 if isinstance(value, str) else 8


def journaled_headers(headers: dict[str, str], key_headers: tuple[str, ...], show_keys: bool = False) -> dict:
    """A request's headers for the journal: keys masked as everywhere (`abcd...wxyz`), credentials and
    cookies redacted, each value clipped, at most BODY_ITEMS of them."""
    kept = {}
    for name, value in list(headers.items())[:BODY_ITEMS]:
        if name in key_headers:
            kept[name] = mask_key(clipped(value, SHORT_FIELD), show_keys)
        elif name in SECRET_HEADERS:
            kept[name] = "[redacted]"
        else:
            kept[name] = clipped(value, SHORT_FIELD)
    return kept
