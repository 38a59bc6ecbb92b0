"""flux-mock's command line: parses options (and their FLUX_MOCK_* environment defaults) into settings and
hands them to the command that runs: serving.py serves, contract_tests.runner checks, drifts and reports."""

import argparse
import importlib
import os
import re
import sys

from mock_server import __version__, tls
from mock_server.errors import PROFILES
from mock_server.exit_codes import CommandError, ConfigError, UsageError
from mock_server.jobs.timing import TIMING_MODES
from mock_server.settings import ORIGIN_PATTERN, RESPONSE_MODES, Settings, load_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flux-mock", description="Offline mock server of the Pixazo / AppyPie Flux image-generation API.")
    parser.add_argument("--version", action="version", version=f"flux-mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (add_serve, add_run, add_record, add_wait, add_ca, add_check, add_drift, add_report):
        add(commands)
    return parser


def add_serve(commands) -> None:
    serve = commands.add_parser("serve", help="serve the mock API", description=(
        "Serve every operation of the Flux API specs. With no options: any non-empty key works, "
        "each key starts with $100, and queue jobs are QUEUED 1 s, PROCESSING 2 s, then COMPLETED."))
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default 8080)")
    _serve_options(serve)
    serve.epilog = ("Every option can also come from the environment: FLUX_MOCK_ and its name in capitals, "
                    "dashes as underscores (FLUX_MOCK_PORT=9000, FLUX_MOCK_STORE=redis://redis:6379/0, "
                    "FLUX_MOCK_TLS=true). The command line wins over the environment.")
    serve.set_defaults(run=run_serve)
    _defaults_from_environment(serve)


RUN_ONLY = {"--report-json": 1, "--isolate": 0}  # run's own options (and how many values each takes), not passed on to serve


def add_run(commands) -> None:
    run = commands.add_parser("run", help="run a command with its gateway traffic sent to a mock of its own", description=(
        "Start a mock on a free loopback port (with any serve option given), run COMMAND unchanged with the "
        "environment that sends its gateway traffic to the mock (HTTPS_PROXY, the mock's CA for Python, curl and "
        "Node, a preload for Node's fetch and https and Python's http.client, FLUX_MOCK_URL), print the report of "
        "that traffic on stderr, stop the mock and exit with COMMAND's exit status (127: not found)."),
        usage="flux-mock run [--report-json FILE] [serve options] -- COMMAND [ARGS...]")
    run.add_argument("--isolate", action="store_true",
                     help="Linux: run COMMAND and the mock in a private network namespace where the gateway's hosts "
                          "are the mock (TLS on 443), for apps that ignore proxy variables (root, or unprivileged "
                          "user namespaces)")
    run.add_argument("--report-json", metavar="FILE",
                     help="also write the report as JSON: each operation called with its count and statuses, the "
                          "findings, violations, chaos verdicts and notes, COMMAND's exit status")
    _serve_options(run)
    run.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    run.set_defaults(run=run_run)


def _serve_options(serve) -> None:
    """The options of the mock itself, for `serve` and `run` alike."""
    serve.add_argument("--config", metavar="FILE", help="YAML config: keys, balances, rate limits, rules, timing")
    serve.add_argument("--public-url", metavar="URL",
                       help="base URL written into polling_url and media URLs (default: the URL the client used)")
    serve.add_argument("--queued-for", type=float, metavar="SECONDS", help="seconds a job stays QUEUED (default 1)")
    serve.add_argument("--processing-for", type=float, metavar="SECONDS",
                       help="seconds a job stays PROCESSING (default 2)")
    serve.add_argument("--timing", choices=TIMING_MODES, dest="mode",
                       help="time: by the clock (default); per-poll: one state per status poll; "
                            "manual: only POST /__admin/jobs/{id}/advance moves a job; observed: sync calls and "
                            "jobs take as long as the live gateway was seen to (28-39 s a getData, 12 s-3 min a "
                            "job), drawn from --seed")
    serve.add_argument("--timing-speed", type=float, metavar="FACTOR", dest="speed",
                       help="under --timing observed, divide the durations by FACTOR (100: a 30 s call in 0.3 s)")
    serve.add_argument("--sync-latency", type=float, metavar="SECONDS",
                       help="seconds a sync call (getData, generateImage, generateT2I) takes (default 0)")
    serve.add_argument("--admin-token", metavar="TOKEN",
                       help="require this X-Admin-Token on /__admin (needed to use it beyond loopback); also "
                            "read from FLUX_MOCK_ADMIN_TOKEN")
    serve.add_argument("--show-keys", action="store_true", default=None,
                       help="show API keys whole in the journal (default: abcd...wxyz)")
    serve.add_argument("--store", metavar="URL",
                       help="where state lives: memory:// (default) or redis://HOST:PORT/DB, shared by every "
                            "worker and instance using it")
    serve.add_argument("--store-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="wait this long for a shared store to answer before giving up (default 10); the "
                            "ready line is printed only once it answers")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes (default 1); more than one needs --store redis://...")
    serve.add_argument("--strict", action="store_true", default=None,
                       help="reject and record every request that breaks the spec, undocumented fields included")
    serve.add_argument("--tls", action="store_true", default=None,
                       help="answer https, with a certificate from flux-mock's local CA (see `flux-mock ca`) unless "
                            "--cert and --key are given")
    serve.add_argument("--cert", dest="tls_cert", metavar="FILE", help="with --tls: your certificate (PEM)")
    serve.add_argument("--key", dest="tls_key", metavar="FILE", help="with --tls: its private key (PEM)")
    serve.add_argument("--trust-forwarded", action="store_true", default=None,
                       help="URLs in answers follow X-Forwarded-Proto/-Host and Forwarded (behind a trusted proxy)")
    serve.add_argument("--profile", choices=PROFILES,
                       help="pages (default): every answer in the shape the vendor's pages give; gateway: 401, "
                            "404 and 429 as the real gateway (Azure API Management) answers them")
    serve.add_argument("--cors", metavar="ORIGINS",
                       help="browser origins allowed to call the API and media, comma-separated (default *: any, "
                            "as for a gateway browser apps call); 'none' turns CORS off. Never the admin API")
    serve.add_argument("--responses", choices=RESPONSE_MODES,
                       help="documented (default): the mock's own answers; generated: every answer body drawn from "
                            "the response schemas, spec-valid and deliberately unusual, keeping the rules the pages "
                            "state (Prefer: dynamic=true does it for one call); beyond-contract: drawn from the "
                            "schemas alone, breaking those rules on purpose (journaled as such)")
    serve.add_argument("--seed", type=int, metavar="N",
                       help="seed of generated answers, chaos and the seeds picked for requests without one "
                            "(default 0): the same seed, the same answers and images")
    serve.add_argument("--replay", action="append", metavar="FILE",
                       help="answer recorded requests (a `flux-mock record` HAR, or any HAR 1.2 file) with their "
                            "recorded answers, a job's polls with its recorded status sequence; repeatable")
    serve.add_argument("--replay-strict", action="store_true", default=None,
                       help="with --replay: an unrecorded request is a 404 naming the closest recorded one (default: "
                            "the mock answers it, journaled as unrecorded)")
    serve.add_argument("--on-miss", choices=("mock", "upstream"), dest="replay_on_miss",
                       help="with --replay: what answers a request the recording does not hold: mock (default, the "
                            "spec-driven answer) or upstream (forwarded to --upstream, answered with what it got and "
                            "added to the first --replay file, redacted and judged as record does)")
    serve.add_argument("--upstream", dest="replay_upstream", metavar="URL",
                       help="with --on-miss upstream: the server unrecorded requests go to (http(s)://host[:port])")
    serve.add_argument("--replay-speed", type=float, metavar="X",
                       help="with --replay: recorded durations divided by X (default 1; 0: polls advance at once)")
    serve.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])


def add_record(commands) -> None:
    record = commands.add_parser("record", help="record real traffic to a HAR file, judging it on the way",
                                 description=(
        "A pass-through proxy to the real gateway: point the app at it (base URL, or HTTPS_PROXY with "
        "flux-mock's local CA trusted) and every exchange goes on to the real host, comes back unchanged, and "
        "is written to a HAR 1.2 file with the keys redacted. Each real answer is checked against the specs "
        "on the way: drift is written into the file, the journal and `flux-mock report`. Replay the file "
        "offline with `flux-mock serve --replay FILE`."))
    record.add_argument("--out", required=True, metavar="FILE", help="the HAR file to write")
    record.add_argument("--force", action="store_true", help="write over FILE if it exists")
    record.add_argument("--upstream", metavar="URL",
                        help="send the gateway's requests here (a staging gateway) instead of the host the app asked "
                             "for, or, by base URL, the server the specs name for the path")
    record.add_argument("--upstream-ca", metavar="FILE", help="also trust this CA certificate (PEM) upstream")
    record.add_argument("--record-media", action="store_true",
                        help="write media downloads' bytes into the file (default: their size only)")
    record.add_argument("--media-max-bytes", type=int, default=20 * 1024 * 1024, metavar="N",
                        help="with --record-media: larger media keep only their size (default 20 MiB)")
    record.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="wait this long for each read of the real host's answer (default 120)")
    record.add_argument("--total-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="wait this long for the whole answer of the real host, then answer 504 (default 300)")
    record.add_argument("--allow-host", action="append", default=[], metavar="HOST",
                        help="a loopback or private host (or host:port) the answers may name that the app may then "
                             "reach through the recorder, such as a staging CDN (repeatable; such hosts are refused "
                             "otherwise, and --upstream's is always taken)")
    record.add_argument("--webhook-base", metavar="URL",
                        help="where the API can reach this recorder: the app's webhook URLs are handed to the API as "
                             "relay URLs under it, each delivery relayed to the app and recorded (default: the "
                             "address it listens on)")
    record.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    record.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default 8080)")
    record.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    record.set_defaults(run=run_record)


def add_wait(commands) -> None:
    wait = commands.add_parser("wait", help="wait until a flux-mock (or recorder) answers", description=(
        "Return once the flux-mock at --url answers its health page: what a script runs after `flux-mock serve &` "
        "before its first call. Exits 0 when it answers, 3 when it did not within --timeout."))
    port = os.environ.get("FLUX_MOCK_PORT") or "8080"  # where `serve` listens when the environment says so
    wait.add_argument("--url", default=f"http://127.0.0.1:{port}",
                      help="the mock's base URL (default http://127.0.0.1:$FLUX_MOCK_PORT, else :8080)")
    wait.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="give up after this (default 30)")
    wait.add_argument("--admin-token", default=os.environ.get("FLUX_MOCK_ADMIN_TOKEN"), metavar="TOKEN",
                      help="the mock's --admin-token, if it has one (default: $FLUX_MOCK_ADMIN_TOKEN, as serve "
                           "reads it)")
    wait.set_defaults(run=_kit("run_wait"))


def add_ca(commands) -> None:
    ca = commands.add_parser("ca", help="where flux-mock's local CA certificate is, and how to trust it",
                             description="Print the local CA certificate's path and how to make an app trust it (the "
                                         "CA is made on first use, in $FLUX_MOCK_HOME or ~/.local/share/flux-mock).")
    ca.add_argument("--path", action="store_true", help="print only the CA certificate's path")
    ca.set_defaults(run=run_ca)


def add_check(commands) -> None:
    check = commands.add_parser("check", help="run the contract suites against a server", description=(
        "Generated positive and negative requests for every operation, response conformance, and every "
        "submit followed through its links to a final status. Exits 0 clean, 1 on a contract failure, "
        "2 on a usage error, 3 when the target cannot be reached."))
    _target_options(check)
    check.add_argument("--report", metavar="FILE", help="write a JUnit XML report")
    check.add_argument("--max-examples", type=int, metavar="N", help="generated cases per operation and mode (20)")
    check.add_argument("--operation", action="append", metavar="ID", help="only this operationId (repeatable)")
    check.set_defaults(run=_kit("run_check"))


def add_drift(commands) -> None:
    drift = commands.add_parser("drift", help="compare a server's answers with the specs", description=(
        "Send each operation's documented example, follow jobs to their end and report every difference "
        "from the specs, graded breaking, risky or info; or, with --har, judge a recording's exchanges offline "
        "the same way. Exits 0 when nothing fails (--fail-on, --accept), 1 on drift that does, 2 on a usage "
        "error, 3 when the target cannot be reached (a network failure is never drift)."))
    _target_options(drift, base_url_required=False)
    drift.add_argument("--har", metavar="FILE",
                       help="instead of calling a server: judge the exchanges of this HAR 1.2 recording offline")
    drift.add_argument("--max-age", type=float, metavar="DAYS",
                       help="with --har: a recording older than this many days is reported stale")
    drift.add_argument("--baseline", metavar="OLD_FILE",
                       help="with --har: also name what changed since this older recording (statuses, fields, "
                            "types, error codes)")
    drift.add_argument("--operation", action="append", metavar="ID", help="only this operationId (repeatable)")
    drift.add_argument("--report-md", metavar="FILE", help="also write the Markdown report here")
    drift.add_argument("--report-json", metavar="FILE", help="also write the JSON report here")
    drift.add_argument("--report-junit", metavar="FILE", help="also write a JUnit XML report here (a case per "
                       "operation, failed by its failing differences)")
    drift.add_argument("--fail-on", choices=("breaking", "risky", "info"), default="risky",
                       help="the least severe difference that fails the run (default risky: what may break a "
                            "client fails, an added field does not; every difference is listed either way)")
    drift.add_argument("--client", metavar="FILE",
                       help="a HAR of your client's own test traffic: each difference is marked met (the client "
                            "called that operation and got an answer of that status) or never met")
    drift.add_argument("--fail-on-used", action="store_true",
                       help="with --client: only differences the client met fail the run")
    drift.add_argument("--accept", metavar="FILE",
                       help="a YAML file of accepted differences (kind, operation, status, path, reason, expires): "
                            "those it matches are listed as accepted and never fail; an expired entry fails")
    drift.set_defaults(run=_kit("run_drift_command"))


def add_report(commands) -> None:
    report = commands.add_parser("report", help="what a client sent to a running flux-mock that breaks the contract",
                                 description="Print every journaled (or, with --har, recorded) request that broke "
                                             "the spec, and the client behaviour the docs advise against, with a "
                                             "summary. Exits 1 if there is any, 2 on a usage error, 3 when the mock "
                                             "cannot be reached.")
    report.add_argument("--base-url", metavar="URL", help="the running flux-mock")
    report.add_argument("--har", metavar="FILE",
                        help="instead of a running flux-mock: judge a HAR 1.2 recording of the client's traffic")
    report.add_argument("--admin-token", metavar="TOKEN", help="its --admin-token, if it has one")
    report.add_argument("--min-poll-interval", type=float, metavar="SECONDS",
                        help="polls of one job closer than this are reported (default: the server's, 5)")
    report.add_argument("--key", metavar="KEY", help="only this API key's requests")
    report.add_argument("--since", metavar="TIME",
                        help="only requests from this moment on: an ISO 8601 time or epoch seconds (mock clock)")
    report.add_argument("--allow-undocumented", action="store_true",
                        help="do not report fields the spec does not document")
    report.add_argument("--include-kit", action="store_true",
                        help="also judge the kit's own traffic (flux-mock check and drift), left out by default")
    report.add_argument("--coverage", action="store_true",
                        help="also print which documented outcomes (status codes, FAILED and ERROR jobs, 429 with "
                             "Retry-After, webhook events, variants) the traffic met per operation, and which never")
    report.add_argument("--coverage-min", type=float, metavar="PERCENT",
                        help="with --coverage: exit 1 when less than this share of the outcomes was met")
    report.set_defaults(run=_kit("run_report"))


def _kit(name: str):
    """The contract kit's command `name`, imported when it runs (serving never loads pytest)."""
    def run(args) -> int:
        return getattr(importlib.import_module("contract_tests.runner"), name)(args)
    return run


ENVIRONMENT_PREFIX = "FLUX_MOCK_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def environment_name(action: argparse.Action) -> str:
    return ENVIRONMENT_PREFIX + action.option_strings[-1].lstrip("-").replace("-", "_").upper()


def _defaults_from_environment(parser: argparse.ArgumentParser) -> None:
    """FLUX_MOCK_<OPTION> sets each option's default (a container's usual configuration); UsageError (exit 2,
    one line) for a value the option would refuse."""
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = environment_name(action)
        raw = os.environ.get(name)
        if raw is None:
            continue
        if isinstance(action, argparse._AppendAction):  # a list: comma-separated
            value = [item.strip() for item in raw.split(",") if item.strip()]
        elif action.nargs == 0:  # a flag
            if raw.strip().lower() not in _TRUE + _FALSE:
                raise ConfigError(f"{name}={raw[:50]!r}: give true or false")
            value = raw.strip().lower() in _TRUE
        else:
            try:
                value = action.type(raw) if action.type else raw
            except (TypeError, ValueError):
                raise ConfigError(f"{name}={raw[:50]!r} is not a valid {action.metavar or action.dest}") from None
            if action.choices and value not in action.choices:
                raise ConfigError(f"{name}={raw[:50]!r}: choose one of {', '.join(map(str, action.choices))}")
        parser.set_defaults(**{action.dest: value})


def _target_options(parser: argparse.ArgumentParser, base_url_required: bool = True) -> None:
    parser.add_argument("--base-url", required=base_url_required, metavar="URL", help="the server to test")
    parser.add_argument("--key", metavar="KEY", help="Ocp-Apim-Subscription-Key to send")
    parser.add_argument("--secret-key", metavar="KEY", help="X-Secret-Key to send (default: --key)")
    parser.add_argument("--allow-paid", action="store_true",
                        help="also call operations that cost money (never needed against flux-mock)")
    parser.add_argument("--max-spend", type=float, default=0.0, metavar="USD",
                        help="with --allow-paid: the most the run may spend at documented prices (default 0)")


def _settings(args) -> Settings:
    base = load_config(args.config) if args.config else Settings()
    return base.with_options(host=args.host, port=args.port, public_url=args.public_url, mode=args.mode,
                             queued_for=args.queued_for, processing_for=args.processing_for,
                             sync_latency=args.sync_latency, speed=args.speed, strict=args.strict,
                             show_keys=args.show_keys,
                             admin_token=args.admin_token or None,  # FLUX_MOCK_ADMIN_TOKEN: the environment defaults
                             store=args.store, tls=args.tls, tls_cert=args.tls_cert, tls_key=args.tls_key,
                             trust_forwarded=args.trust_forwarded, profile=args.profile,
                             cors_origins=_cors_origins(args.cors), responses=args.responses, seed=args.seed,
                             replay=tuple(args.replay) if args.replay else None, replay_strict=args.replay_strict,
                             replay_on_miss=getattr(args, "replay_on_miss", None),
                             replay_upstream=getattr(args, "replay_upstream", None),
                             replay_speed=_replay_speed(args.replay_speed))


def _replay_speed(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1_000_000:
        raise ConfigError(f"--replay-speed {value:g}: give a number from 0 (no waiting) to 1000000")
    return value


def _cors_origins(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    origins = tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
    if origins in ((), ("none",)):
        return ()
    for origin in origins:
        if not re.fullmatch(ORIGIN_PATTERN, origin):
            raise ConfigError(f"--cors: {origin!r} is not an origin (scheme://host[:port]) nor *")
    return origins


def run_serve(args) -> int:
    from mock_server import serving  # uvicorn and the app load only to serve

    return serving.serve(_settings(args), workers=args.workers, store_timeout=args.store_timeout,
                         log_level=args.log_level)


def run_run(args) -> int:
    from mock_server.run_command import ISOLATED, isolate, run_command  # the kit's process control: only to run

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    given = args.argv[args.argv.index("run") + 1:len(args.argv) - len(args.command)]
    serve_options, skip = [], 0
    for token in given:
        name = token.split("=", 1)[0]
        if skip:
            skip -= 1
        elif name in RUN_ONLY:
            skip = RUN_ONLY[name] if "=" not in token else 0
        else:
            serve_options.append(token)
    isolated = os.environ.get(ISOLATED) == "1"
    if args.isolate and not isolated:
        if not command:
            raise UsageError("run needs a command after --: flux-mock run [options] -- python app.py")
        return isolate(args.argv)
    return run_command(serve_options, command, args.report_json, isolated=isolated)


def run_record(args) -> int:
    from mock_server import serving
    from mock_server.operations import load_operations
    from mock_server.recording import RecordingOptions

    if args.upstream and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", args.upstream):
        raise ConfigError(f"--upstream {args.upstream!r} is not a base URL (http(s)://host[:port])")
    if args.webhook_base and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", args.webhook_base):
        raise ConfigError(f"--webhook-base {args.webhook_base!r} is not a base URL (http(s)://host[:port])")
    if args.upstream_ca and not os.path.isfile(args.upstream_ca):
        raise ConfigError(f"--upstream-ca {args.upstream_ca}: no such file")
    if args.media_max_bytes < 0 or args.timeout <= 0 or args.total_timeout <= 0:
        raise ConfigError("--media-max-bytes must be 0 or more, --timeout and --total-timeout above 0")
    options = RecordingOptions(out=args.out, upstream=args.upstream, upstream_ca=args.upstream_ca,
                               record_media=args.record_media, media_max_bytes=args.media_max_bytes,
                               force=args.force, timeout=args.timeout, total_timeout=args.total_timeout,
                               allow_hosts=tuple(args.allow_host), webhook_base=args.webhook_base)
    judge = importlib.import_module("contract_tests.recorded_journal").OnTheWay(load_operations())  # the kit judges, by name
    settings = Settings().with_options(host=args.host, port=args.port, cors_origins=())
    return serving.serve_recorder(settings, options, judge, log_level=args.log_level)


def run_ca(args) -> int:
    try:
        path = tls.ca_path()
    except OSError as error:
        raise ConfigError(f"cannot make or read the local CA in {tls.data_directory()}: {error.strerror or error}")
    print(path if args.path else tls.trust_instructions(path))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        parser = _parser()
    except ConfigError as error:
        print(f"flux-mock: {error}", file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"flux-mock: {error}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"flux-mock: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        print(f"flux-mock: cannot listen: {error.strerror or error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
