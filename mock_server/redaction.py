"""What may be shown of secrets, one policy for everything that writes: HAR files (`flux-mock record`), the
journal, the access log and every log line.

What is secret: a header, query parameter, form field or JSON field named like a key, token, secret, signature,
password, credential, auth, cookie or session (`X-Api-Key`, `api_key`, `X-Auth-Token`, `sig`, `auth`,
`X-Amz-Credential`, `X-Webhook-Secret`, `subscription-key`...; parameters split by `&` or `;`), the user info of
any URL, and, in a webhook URL (which carries its receiver's secrets), its whole query, its fragment and each path
segment that looks like a token. In a URL a secret becomes `redacted` (the URL stays a valid URL, so what is
judged of it later does not change); elsewhere `[redacted]`.

The journal shows API keys as `abcd...wxyz` (whole only with `show_keys`) and keeps bodies as sent but for their
secret-named fields: a test verifies what its client sent, webhook URLs included. Everything is bounded: no
client can make an entry large.
"""

import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

FIELD_LIMIT = 2048
SHORT_FIELD = 256
LIST_LIMIT = 50
REDACTED = "[redacted]"
URL_REDACTED = "redacted"  # inside a URL
_WORDS = ("key", "apikey", "token", "secret", "sig", "signature", "password", "passwd", "pwd", "credential",
          "credentials", "auth", "authorization", "cookie", "session", "sessionid")
_SECRET_WORD = re.compile(r"(?:^|[-_.\s])(?:" + "|".join(_WORDS) + r")(?:$|[-_.\s])")
_WEBHOOK_WORD = re.compile(r"webhook|callback", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# A path segment that looks like a token rather than a word: 16 or more letters, digits, - or _, with both a
# letter and a digit (a Slack hook's T0000/B0000/XXXX..., a signed URL's key).
_TOKEN_SEGMENT = re.compile(r"^(?=[^/]*[A-Za-z])(?=[^/]*\d)[A-Za-z0-9_\-]{16,}$")
MAX_DEPTH = 64  # levels of a JSON value redacted: deeper, the rest is dropped (the judges go no deeper either)


@lru_cache(maxsize=4096)  # names repeat (a client's headers and fields): the regexes run once per name
def is_secret_name(name: str) -> bool:
    """Whether a header, parameter or field of this name carries a secret (camelCase read as words)."""
    return bool(_SECRET_WORD.search(_CAMEL.sub("-", name).lower()))


def is_webhook_name(name: str) -> bool:
    return bool(_WEBHOOK_WORD.search(name))


def mask_key(key: str | None, show: bool = False) -> str | None:
    """`abcd...wxyz` for a key longer than 12 characters; shorter ones (test keys) as they are."""
    if key is None or show or len(key) <= 12:
        return key
    return f"{key[:4]}...{key[-4:]}"


# --- URLs ----------------------------------------------------------------------------------------------------

def _redacted_query(query: str) -> str:
    """A query with the value of every secret-named parameter (split by & or ;) replaced."""
    pairs = re.split(r"([&;])", query)
    kept = []
    for pair in pairs:
        name, equals, _ = pair.partition("=")
        kept.append(f"{name}={URL_REDACTED}" if equals and is_secret_name(_unquoted(name)) else pair)
    return "".join(kept)


def _unquoted(text: str) -> str:
    return text.replace("+", " ").replace("%2D", "-").replace("%5F", "_").replace("%2d", "-").replace("%5f", "_")


def redacted_url(url: str, webhook: bool = False) -> str:
    """The URL with its user info and secret-named parameters redacted; a webhook URL (`webhook`) also loses its
    whole query, its fragment and its token-like path segments. Text that is no URL comes back as it was."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return redacted_target(url) if not webhook else URL_REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{URL_REDACTED}@{netloc.rpartition('@')[2]}"
    query, fragment, path = parts.query, parts.fragment, parts.path
    if webhook:
        query = URL_REDACTED if query else ""
        fragment = URL_REDACTED if fragment else ""
        path = "/".join(URL_REDACTED if _TOKEN_SEGMENT.match(segment) else segment for segment in path.split("/"))
    else:
        query = _redacted_query(query)
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def redacted_target(target: str) -> str:
    """A request target (path and query), its secret-named parameters' values replaced (the access log's)."""
    path, question, query = target.partition("?")
    return f"{path}?{_redacted_query(query)}" if question else target


def looks_like_url(value) -> bool:
    return isinstance(value, str) and value[:8].lower().startswith(("http://", "https://"))


# --- headers and bodies, as files and logs may show them ------------------------------------------------------

def redacted_header(name: str, value: str) -> str:
    if is_secret_name(name):
        return REDACTED
    if is_webhook_name(name):
        return redacted_url(value, webhook=True)
    return redacted_url(value) if looks_like_url(value) else value


def redacted_headers(headers) -> list[dict]:
    """HAR name/value pairs, each value as `redacted_header` shows it."""
    return [{"name": name, "value": redacted_header(name, value)} for name, value in headers]


def redacted_json(value, name: str = "", depth: int = 0):
    """A JSON value with every secret-named field's value redacted, webhook URLs redacted as webhook URLs and
    other URLs' secrets redacted, at any depth (beyond MAX_DEPTH levels the rest is dropped)."""
    if depth > MAX_DEPTH:
        return f"{REDACTED}: nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, dict):
        return {key: REDACTED if is_secret_name(str(key)) and not isinstance(item, (dict, list)) and item is not None
                else redacted_json(item, str(key), depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted_json(item, name, depth + 1) for item in value]
    if looks_like_url(value):
        return redacted_url(value, webhook=is_webhook_name(name))
    return value


def redacted_form(text: str) -> str:
    """An application/x-www-form-urlencoded body, its secret-named fields' values redacted."""
    pairs = []
    for name, value in parse_qsl(text, keep_blank_values=True):
        shown = URL_REDACTED if is_secret_name(name) else redacted_url(value, webhook=is_webhook_name(name)) \
            if looks_like_url(value) else value
        pairs.append(f"{quote(name, safe='')}={quote(shown, safe='')}")
    return "&".join(pairs)


# --- the journal: bounded copies of what a client sent ----------------------------------------------------

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


def clipped_json(value, budget: list[int] | None = None, depth: int = 0):
    """A bounded copy of a JSON value for the journal: each string to BODY_STRING characters, each list and
    object to BODY_ITEMS items, 8 levels, BODY_BUDGET units in all (a unit per value, and a string's
    characters), so however the body nests the copy stays small; what is cut says so. Secret-named fields
    (an `api_key`) are redacted."""
    if budget is None and _plain(value):
        return value
    budget = budget if budget is not None else [BODY_BUDGET]
    if budget[0] <= 0:
        return "... (clipped)"
    budget[0] -= 1
    if isinstance(value, (dict, list)) and depth >= 8:
        marker = f"... ({len(value)} items deeper than 8 levels)"
        budget[0] -= len(marker)
        return marker
    if isinstance(value, dict):
        kept = {str(key): REDACTED if is_secret_name(str(key)) and isinstance(item, (str, int, float)) else
                clipped_json(item, budget, depth + 1) for key, item in list(value.items())[:BODY_ITEMS]}
        return {**kept, "...": f"{len(value) - BODY_ITEMS} more fields"} if len(value) > BODY_ITEMS else kept
    if isinstance(value, list):
        kept = [clipped_json(item, budget, depth + 1) for item in value[:BODY_ITEMS]]
        return kept + [f"... {len(value) - BODY_ITEMS} more items"] if len(value) > BODY_ITEMS else kept
    if isinstance(value, str):
        text = clipped(value, min(BODY_STRING, max(budget[0], 16)))
        budget[0] -= len(text)
        return text
    return value


_SCALARS = (str, int, float, bool, type(None))


def _plain(value) -> bool:
    """A body clipping would not change: an object of at most BODY_ITEMS fields, none secret-named, whose values
    are short strings, numbers, booleans, nulls or short lists of those (most requests): kept as it is, without
    walking it value by value."""
    if not isinstance(value, dict) or len(value) > BODY_ITEMS:
        return False
    units = 0
    for key, item in value.items():
        if not isinstance(key, str) or is_secret_name(key):
            return False
        if isinstance(item, list):
            if len(item) > BODY_ITEMS:
                return False
            for element in item:
                if not isinstance(element, _SCALARS) or (isinstance(element, str) and len(element) > BODY_STRING):
                    return False
                units += 1 + (len(element) if isinstance(element, str) else 0)
        elif not isinstance(item, _SCALARS) or (isinstance(item, str) and len(item) > BODY_STRING):
            return False
        units += 2 + (len(item) if isinstance(item, str) else 0)
    return units < BODY_BUDGET


def json_size(value) -> int:
    """About the characters a (clipped) JSON value takes."""
    if isinstance(value, dict):
        return 2 + sum(len(str(key)) + 4 + json_size(item) for key, item in value.items())
    if isinstance(value, list):
        return 2 + sum(1 + json_size(item) for item in value)
    return len(value) + 2 if isinstance(value, str) else 8


def journaled_headers(headers: dict[str, str], key_headers: tuple[str, ...], show_keys: bool = False) -> dict:
    """A request's headers for the journal: keys masked as everywhere (`abcd...wxyz`), every other secret-named
    header (credentials, cookies, tokens) redacted, each value clipped, at most BODY_ITEMS of them."""
    kept = {}
    for name, value in list(headers.items())[:BODY_ITEMS]:
        if name in key_headers:
            kept[name] = mask_key(clipped(value, SHORT_FIELD), show_keys)
        elif is_secret_name(name):
            kept[name] = REDACTED
        else:
            kept[name] = clipped(value, SHORT_FIELD)
    return kept
