"""Read the OpenAPI documents and resolve every $ref, including refs into a sibling file."""

from functools import cache, lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from mock_server.resources import spec_dir

VENDOR_SPECS = ("flux.yaml", "flux-pro-legacy.yaml", "public-clients.yaml")
ADMIN_SPEC = "admin.yaml"


# libyaml's parser where PyYAML was built with it (the wheels are): the same documents, ~9x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (a safe loader)


@cache
def _parsed(path: Path) -> dict:
    """The document at `path` (absolute), parsed once in this process: every bundle that refers into it reads this
    one copy (resolving never changes a document: it builds new dicts and lists)."""
    return read_document(path)


def _pointer(document: dict, fragment: str):
    node = document
    for part in fragment.lstrip("/").split("/") if fragment else ():
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def _resolved(node, path: Path, depth: int = 0):
    """`node` of the document at `path` with its $refs inlined; a ref's sibling keys (summary, description) override
    the target's, as in 3.1. Always new dicts and lists: the parsed documents stay unchanged."""
    if depth > 64:
        raise ValueError(f"$ref nesting deeper than 64 in {path.name}: a cycle?")
    if isinstance(node, list):
        return [_resolved(item, path, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        file_part, _, fragment = node["$ref"].partition("#")
        target_path = (path.parent / file_part).resolve() if file_part else path
        resolved = _resolved(_pointer(_parsed(target_path), fragment), target_path, depth + 1)
        siblings = {k: _resolved(v, path, depth) for k, v in node.items() if k != "$ref"}
        return {**resolved, **siblings} if isinstance(resolved, dict) else resolved
    return {key: _resolved(value, path, depth) for key, value in node.items()}


def bundle(path: Path) -> dict:
    """The document at `path` with every $ref replaced by what it points to."""
    path = path.resolve()
    return _resolved(_parsed(path), path)


def load_bundled(name: str, directory: str | None = None) -> dict:
    """A bundled spec by file name, from the shipped spec folder unless `directory` is given.

    Cached: callers must treat the result as read-only and copy it before changing it."""
    return _bundled(((Path(directory) if directory else spec_dir()) / name).resolve())


@cache
def _bundled(path: Path) -> dict:  # by the file's absolute path: load_bundled(name) and (name, None) are one bundle
    return bundle(path)


def _absolute(servers) -> list[str]:
    return [server["url"] for server in servers or () if "://" in server["url"]]


@lru_cache(maxsize=1)
def gateway_hosts() -> frozenset[str]:
    """Every host an absolute `servers` URL of the specs names (document and operation level)."""
    hosts = set()
    for name in VENDOR_SPECS:
        own, by_path = absolute_servers(load_bundled(name))
        hosts.update(urlsplit(url).hostname for url in own + [url for urls in by_path.values() for url in urls])
    return frozenset(host for host in hosts if host)


def absolute_servers(document: dict) -> tuple[list[str], dict[str, list[str]]]:
    """The absolute `servers` URLs of a document: its own, and by path those its path item and its operations
    name (a path naming none has an empty list)."""
    by_path = {path: _absolute(item.get("servers")) + [url for operation in item.values() if isinstance(operation, dict)
                                                       for url in _absolute(operation.get("servers"))]
               for path, item in document.get("paths", {}).items()}
    return _absolute(document.get("servers")), by_path
