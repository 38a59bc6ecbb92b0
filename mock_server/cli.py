"""flux-mock: an offline mock server and contract-test kit for the Pixazo / AppyPie Flux API."""

import argparse
import socket
import sys

import uvicorn

from mock_server import __version__
from mock_server.app import create_app
from mock_server.settings import TIMING_MODES, ConfigError, Settings, load_config
from mock_server.spec import load_operations


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flux-mock", description="Offline mock server of the Pixazo / AppyPie Flux image-generation API.")
    parser.add_argument("--version", action="version", version=f"flux-mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the mock API", description=(
        "Serve every operation of the Flux API specs. With no options: any non-empty key works, "
        "each key starts with $100, and queue jobs are QUEUED 1 s, PROCESSING 2 s, then COMPLETED."))
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default 8080)")
    serve.add_argument("--config", metavar="FILE", help="YAML config: keys, balances, rate limits, scenarios, timing")
    serve.add_argument("--public-url", metavar="URL",
                       help="base URL written into polling_url and media URLs (default: the URL the client used)")
    serve.add_argument("--queued-for", type=float, metavar="SECONDS", help="seconds a job stays QUEUED (default 1)")
    serve.add_argument("--processing-for", type=float, metavar="SECONDS",
                       help="seconds a job stays PROCESSING (default 2)")
    serve.add_argument("--timing", choices=TIMING_MODES, dest="mode",
                       help="time: by the clock (default); per-poll: one state per status poll; "
                            "manual: only POST /__admin/jobs/{id}/advance moves a job")
    serve.add_argument("--sync-latency", type=float, metavar="SECONDS",
                       help="seconds a sync call (getData, generateImage, generateT2I) takes (default 0)")
    serve.add_argument("--admin-token", metavar="TOKEN",
                       help="require this X-Admin-Token on /__admin (needed to use it beyond loopback)")
    serve.add_argument("--strict", action="store_true", default=None,
                       help="reject and record every request that breaks the spec, undocumented fields included")
    serve.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def _settings(args) -> Settings:
    base = load_config(args.config) if args.config else Settings()
    return base.with_options(host=args.host, port=args.port, public_url=args.public_url, mode=args.mode,
                             queued_for=args.queued_for, processing_for=args.processing_for,
                             sync_latency=args.sync_latency, admin_token=args.admin_token, strict=args.strict)


def serve(args) -> int:
    settings = _settings(args)
    listener = socket.create_server((settings.host, settings.port), family=socket.AF_INET6
                                    if ":" in settings.host else socket.AF_INET, reuse_port=False)
    host, port = listener.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    config = uvicorn.Config(create_app(settings), log_level=args.log_level, lifespan="off",
                            timeout_graceful_shutdown=5)
    print(f"flux-mock {__version__} serving {len(load_operations())} operations on {url} "
          f"(public URL {settings.public_url or url}; admin {url}/__admin/health)", flush=True)
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return serve(args)
    except ConfigError as error:
        print(f"flux-mock: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"flux-mock: cannot listen: {error.strerror or error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
