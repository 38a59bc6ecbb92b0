"""Serving the mock: the listening socket, uvicorn's options (connection guards, TLS files, keep-alive), the
store it waits for, and the ready line; one worker or several. Takes `Settings`, never command-line arguments."""

import asyncio
import dataclasses
import gc
import importlib
import os
import re
import resource
import socket
import sys
import time
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from mock_server import __version__, access_log, connections, tls
from mock_server.app import SETTINGS_ENVIRONMENT, create_app
from mock_server.errors import StoreUnavailable
from mock_server.exit_codes import ConfigError, Unreachable
from mock_server.loopback import is_loopback
from mock_server.operations import load_operations
from mock_server.proxy import gateway_only
from mock_server.recording import create_recorder
from mock_server.settings import Settings
from mock_server.store import open_stores

# Seconds an idle keep-alive connection stays open. Clients reuse pooled connections without retrying when
# the server closes one at that moment (httpx: ReadError); gateways keep them minutes, so a 5 s close
# made that race frequent under load. max_connections still makes room by closing the oldest idle one.
KEEP_ALIVE = 75

def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listener. Its protocol is IPPROTO_TCP, not 0 as socket.create_server leaves it: asyncio sets
    TCP_NODELAY only on accepted sockets of that protocol, and without it every answer waits ~40 ms
    for a delayed ACK."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    return listener


def _tune_garbage_collection() -> None:
    """Jobs are long-lived and acyclic; with the default thresholds the collector re-walks millions of
    them every few thousand allocations, a pause of hundreds of ms under load. Collect the young
    generation less often and the old ones rarely."""
    gc.set_threshold(50_000, 50, 1000)


def _server_options(settings: Settings, log_level: str, connect_policy=gateway_only) -> dict:
    """uvicorn's options: the slow-client guards (connections.py), and every descriptor the system allows."""
    _raise_descriptor_limit()
    options = {"log_level": log_level, "lifespan": "on", "timeout_graceful_shutdown": 5,
               "timeout_keep_alive": KEEP_ALIVE,
               "proxy_headers": False,  # forwarded headers count only with --trust-forwarded (public_url.py)
               "http": connections.configure(settings.header_timeout, settings.max_connections,
                                             (settings.tls_cert, settings.tls_key), direct_tls=settings.tls,
                                             connect_policy=connect_policy)}
    return options  # no ssl_certfile: the protocol takes the handshake itself, counted and timed (connections.py)


def _tls_files(settings: Settings) -> tuple[str, str]:
    """The certificate and key `--tls` answers with: the user's, else files the local CA signs."""
    if settings.tls_cert or settings.tls_key:
        if not (settings.tls_cert and settings.tls_key):
            raise ConfigError("--cert and --key go together")
        for path in (settings.tls_cert, settings.tls_key):
            if not Path(path).is_file():
                raise ConfigError(f"TLS file {path} does not exist")
        return settings.tls_cert, settings.tls_key
    return tls.server_files(extra_names=(settings.host,))


def _raise_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_for_store(url: str | None, timeout: float) -> None:
    """Return once the store at `url` answers (at once for memory); Unreachable after `timeout` seconds."""
    if not url or url.startswith("memory:"):
        return
    deadline, last = time.monotonic() + timeout, "no answer"
    while True:
        try:
            asyncio.run(_ping(url))
            return
        except StoreUnavailable as error:
            last = error.reason
        if time.monotonic() >= deadline:
            raise Unreachable(f"the store {url} did not answer within {timeout:g} s: {last}")
        time.sleep(0.2)


async def _ping(url: str) -> None:
    stores = open_stores(url, journal_size=1)
    try:
        await stores.ping()
    finally:
        await stores.close()


def serve_recorder(settings: Settings, options, judge, log_level: str = "warning") -> int:
    """`flux-mock record`: the recording proxy (recording.py) on the settings' address, until stopped; 0."""
    _tune_garbage_collection()
    ca = tls.ca_path()  # made now, so the app can be told to trust it before its first CONNECT
    listener = listening_socket(settings.host, settings.port)
    url = _listening_url(listener, tls=False)
    options = dataclasses.replace(options, webhook_base=options.webhook_base or url)  # where the API posts webhooks
    app = create_recorder(settings, options, judge)
    config = uvicorn.Config(app, **_server_options(settings, log_level, app.recorder.connect_policy))
    access_log.install()
    print(f"flux-mock {__version__} recording on {url} into {options.out}: requests go on to "
          f"{options.upstream or 'the servers the specs name'} (by base URL) or to the host asked for "
          f"(HTTPS proxy for {', '.join(sorted(tls.gateway_hosts()))} and the hosts answers name, with the local "
          f"CA {ca}); admin {url}/__admin/health", flush=True)
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def _listening_url(listener: socket.socket, tls: bool) -> str:
    """A URL a client on this machine can use for the listener."""
    host, port = listener.getsockname()[:2]
    shown = "127.0.0.1" if host == "0.0.0.0" else "::1" if host == "::" else host
    return f"{'https' if tls else 'http'}://{'[' + shown + ']' if ':' in shown else shown}:{port}"


def _replay_judge(settings: Settings):
    """With --replay: the kit's judge of a recorded answer against the current specs (stale-recording)."""
    if not settings.replay:
        return None
    return importlib.import_module("contract_tests.recorded_journal").stale_lines  # the kit, by name


def serve(settings: Settings, workers: int = 1, store_timeout: float = 10.0, log_level: str = "warning") -> int:
    """Serve until stopped (Ctrl-C, SIGTERM); 0. ConfigError, Unreachable (the store) or OSError (the address)
    before it starts."""
    if settings.tls:  # the files it answers with, for this process and every worker (and the proxy: same names)
        cert, key = _tls_files(settings)
        settings = dataclasses.replace(settings, tls_cert=cert, tls_key=key)
    _tune_garbage_collection()
    if workers < 1:
        raise ConfigError("--workers must be 1 or more")
    if workers > 1 and not (settings.store or "").startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("--workers above 1 needs a shared store (--store redis://HOST:PORT/DB): with memory "
                          "state, a job created by one worker would be unknown to the others")
    if workers > 1 and settings.replay:
        raise ConfigError("--replay keeps each replayed job's place in its sequence in one process: use one worker")
    if settings.replay_on_miss == "upstream" and not (settings.replay and settings.replay_upstream):
        raise ConfigError("--on-miss upstream needs --replay FILE (where what it learns is added) and --upstream URL")
    if settings.replay_upstream and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", settings.replay_upstream):
        raise ConfigError(f"--upstream {settings.replay_upstream!r} is not a base URL (http(s)://host[:port])")
    wait_for_store(settings.store, store_timeout)
    listener = listening_socket(settings.host, settings.port)
    url = _listening_url(listener, settings.tls)
    if workers > 1:
        os.environ[SETTINGS_ENVIRONMENT] = settings.to_json()
        config = uvicorn.Config("mock_server.app:create_app_from_environment", factory=True, workers=workers,
                                **_server_options(settings, log_level))
    else:
        config = uvicorn.Config(create_app(settings, replay_judge=_replay_judge(settings)),
                                **_server_options(settings, log_level))
    access_log.install()  # after uvicorn set up its loggers; each --workers worker installs its own
    print(f"flux-mock {__version__} serving {len(load_operations())} operations on {url} "
          f"(URLs in answers: {settings.public_url or 'the scheme and host each client used'}; admin "
          f"{url}/__admin/health; also an HTTPS proxy for {', '.join(sorted(tls.served_hosts()))})", flush=True)
    if not is_loopback(settings.host) and not settings.admin_token:
        print("flux-mock: listening beyond loopback without --admin-token: the admin API answers loopback "
              "clients only", file=sys.stderr, flush=True)
    if workers > 1:
        Multiprocess(config, sockets=[listener]).run()
    else:
        uvicorn.Server(config).run(sockets=[listener])
    return 0
