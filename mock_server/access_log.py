"""What the access log (uvicorn's, at --log-level info) shows of a request's target: the path, with the value
of each secret-named query parameter replaced (redaction.py, the one policy), so an API key or admin token sent
in a URL never reaches the log."""

import logging

from mock_server.redaction import redacted_target


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
