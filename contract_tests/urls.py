"""Where an answer's URLs lead, judged: a polling URL is a status operation's path on the host the request was
sent to, and a media URL is on a host the pages show media on (their examples' hosts: page 001's r2.dev bucket,
000's images.pixazo.ai...) or on the gateway's own host. A URL that moved is `url-changed`; against a baseline
recording, URLs whose host or path layout changed are named too (`url_shapes`)."""

import re
from functools import cache
from urllib.parse import urlsplit

from contract_tests.differences import Difference
from mock_server.operations import Operation, load_operations
from mock_server.operations.facts import fact_values
from mock_server.operations.matcher import OperationMatcher

_ID = re.compile(r"^(?=.*\d)[\w.-]{8,}$")  # a path segment that names something (an id), not a resource


@cache
def documented_media_hosts() -> frozenset[str]:
    """The hosts of every media URL in the specs' response examples: where the pages show media."""
    hosts = set()
    for operation in load_operations():
        for code, response in operation.responses.items():
            content = (response.get("content") or {}).get("application/json") or {}
            for example in (content.get("examples") or {}).values():
                for url in fact_values(content.get("schema"), example.get("value"), {"media_url"}):
                    hosts.add((urlsplit(url).hostname or "").lower())
    return frozenset(hosts - {""})


@cache
def _status_paths() -> OperationMatcher:
    return OperationMatcher([op for op in load_operations() if op.is_status])


def template(path: str) -> str:
    """A path with each id-like segment as {id}: the layout a URL keeps while its ids change."""
    return "/".join("{id}" if _ID.match(segment) else segment for segment in path.split("/"))


def url_differences(operation: Operation, status: int, body, asked: str) -> list[Difference]:
    """How the URLs of an answer to a request sent to `asked` (a URL) depart from where the pages lead them."""
    schema = operation.response_schema(status)
    if schema is None or not isinstance(body, (dict, list)):
        return []
    host = (urlsplit(asked).netloc or "").lower()
    found = []
    for url in fact_values(schema, body, {"polling_url"}):
        parts = urlsplit(url)
        if parts.netloc.lower() != host or not _status_paths().candidates("GET", parts.path):
            found.append(Difference(operation.operation_id, "url-changed", "body.polling_url",
                                    f"a status operation's path on {host} (the host the request was sent to)", url))
    for url in fact_values(schema, body, {"media_url"}):
        media_host = (urlsplit(url).hostname or "").lower()
        if media_host and media_host != urlsplit(asked).hostname and media_host not in documented_media_hosts():
            found.append(Difference(operation.operation_id, "url-changed", "media URL host",
                                    f"one of {', '.join(sorted(documented_media_hosts()))} (the pages') or {host}",
                                    media_host))
    return found


def url_shapes(operation: Operation, status: int, body, asked: str) -> set[tuple[str, str, str]]:
    """(field, host, path layout) of the URLs of an answer (the request's own host written as `the host asked`),
    for comparing two recordings."""
    schema = operation.response_schema(status)
    if schema is None or not isinstance(body, (dict, list)):
        return set()
    host = (urlsplit(asked).netloc or "").lower()
    shapes = set()
    for field in ("polling_url", "media_url"):
        for url in fact_values(schema, body, {field}):
            parts = urlsplit(url)
            where = "the host asked" if parts.netloc.lower() == host else parts.netloc.lower()
            shapes.add((field, where, template(parts.path)))
    return shapes
