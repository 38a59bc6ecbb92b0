"""What the access log (uvicorn's, at --log-level info) shows of a request's target: the path, with the value
of each query parameter whose name says it carries a secret (key, token, secret, signature...) replaced, so
an API key or admin token sent in a URL never reaches the log."""

import logging
import re
from urllib.parse import unquote_plus

SECRET_NAME = re.compile(r"key|token|secret|passw|auth|signature|credential|session|^sig$|^code$", re.IGNORECASE)
REDACTED = "[redacted]"


def redacted_target(target: str) -> str:
    """The request target with the values of secret-named query parameters replaced."""
    path, question, query = target.partition("?")
    if not question:
        return target
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if equals and SECRET_NAME.search(unquote_plus(name)) else pair)
    return f"{path}?{'&'.join(pairs)}"


class RedactedQueries(logging.Filter):
    """Rewrites uvicorn's access record (client, method, target, HTTP version, status) before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], redacted_target(record.args[2]), *record.args[3:])
        return True


def install() -> None:
    """Put the filter on uvicorn's access logger (after uvicorn configured its logging); once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactedQueries) for existing in logger.filters):
        logger.addFilter(RedactedQueries())
