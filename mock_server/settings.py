"""Frozen settings, and the config file that fills them, with errors that name the offending field."""

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path

import jsonschema_rs
import yaml

from mock_server.exit_codes import ConfigError
from mock_server.jobs.timing import TIMING_MODES, Timing
from mock_server.webhooks.targets import allow_list_problem, is_allowed_target

log = logging.getLogger("flux_mock.config")

RESPONSE_MODES = ("documented", "generated", "beyond-contract")
ORIGIN_PATTERN = r"^(\*|https?://[^/]+)$"  # a CORS origin: scheme://host[:port], or * for any


@dataclass(frozen=True)
class KeyConfig:
    """One API key: its starting balance (USD), the models it may use (None: all) and its rate limit (req/s)."""

    balance: float | None = None
    models: tuple[str, ...] | None = None
    rate_limit: float | None = None


ANY_KEY = KeyConfig()  # what any key is when the config names none (frozen: one for every request)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    timing: Timing = field(default_factory=Timing)
    keys: dict[str, KeyConfig] = field(default_factory=dict)
    default_balance: float = 100.0
    default_rate_limit: float | None = None
    disabled_models: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    rules: tuple[dict, ...] = ()  # per-test answers (the config file's `rules:`)
    max_body_bytes: int = 1024 * 1024
    journal_size: int = 10_000
    admin_token: str | None = None
    strict: bool = False
    min_poll_interval: float = 5.0
    webhook_allowed_hosts: tuple[str, ...] = ()
    webhook_max_attempts: int = 5
    webhook_backoff: float = 1.0
    webhook_timeout: float = 5.0
    webhook_redirect_to: str | None = None  # every delivery to this one local receiver, the target in a header
    store: str | None = None
    show_keys: bool = False  # journal and logs show API keys whole (default: abcd...wxyz)
    max_jobs: int = 1_000_000  # beyond this many jobs, the oldest final ones are evicted
    header_timeout: float = 10.0  # seconds a connection may take to send its request head
    body_timeout: float = 30.0  # seconds a request body may take to arrive
    max_connections: int = 4096  # beyond this many, the oldest connection still waiting for a request is closed
    tls: bool = False  # answer https (with tls_cert/tls_key, else a certificate from the local CA)
    tls_cert: str | None = None
    tls_key: str | None = None
    trust_forwarded: bool = False  # URLs in answers follow X-Forwarded-Proto/-Host and Forwarded
    profile: str = "pages"  # gateway: 401/404/429 in the shape the real gateway (Azure APIM) answers them
    cors_origins: tuple[str, ...] = ("*",)  # browser origins the API and media answer (the admin API: none)
    responses: str = "documented"  # generated: every answer drawn from the response schemas (answers/), keeping
    # the pages' constraints; beyond-contract: drawn from the schemas alone, past the rules on purpose (journaled so)
    seed: int = 0  # of generated answers, chaos and the seeds picked for requests: the same seed, the same answers
    chaos: dict | None = None  # network faults for every call (chaos.py)
    replay: tuple[str, ...] = ()  # HAR files whose recorded answers recorded requests get (replay.py)
    replay_strict: bool = False  # an unrecorded request is a 404 naming the closest recorded one
    replay_speed: float = 1.0  # recorded durations divided by this (0: a job's polls advance without waiting)
    replay_on_miss: str = "mock"  # an unrecorded request: the mock answers (mock), or the upstream, learned (upstream)
    replay_upstream: str | None = None  # with replay_on_miss upstream: where unrecorded requests go

    @property
    def accepts_any_key(self) -> bool:
        """With no keys configured, any non-empty key works: unmodified clients run as they are."""
        return not self.keys

    def key_config(self, key: str) -> KeyConfig | None:
        return self.keys.get(key) if self.keys else ANY_KEY

    def to_json(self) -> str:
        """These settings as JSON: how `serve --workers N` hands them to its worker processes."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        data = json.loads(text)
        keys = {name: KeyConfig(**{**spec, "models": tuple(spec["models"]) if spec["models"] is not None else None})
                for name, spec in data.pop("keys").items()}
        tuples = {name: tuple(data.pop(name)) for name in ("disabled_models", "variants", "rules",
                                                           "webhook_allowed_hosts", "cors_origins", "replay")}
        return cls(timing=Timing(**data.pop("timing")), keys=keys, **tuples, **data)

    def with_options(self, **options) -> "Settings":
        """These settings with every option that is not None applied (command-line overrides)."""
        timing_fields = {k: options.pop(k) for k in ("mode", "queued_for", "processing_for", "sync_latency", "speed")
                         if options.get(k) is not None}
        given = {k: v for k, v in options.items() if v is not None}
        return replace(self, timing=replace(self.timing, **timing_fields), **given)


_NUMBER = {"type": "number", "minimum": 0}
_SECONDS = {"type": "number", "minimum": 0, "maximum": 86400}  # bounded: a time must stay a date
_USD = {"type": "number", "minimum": 0, "maximum": 1_000_000_000_000}
CONFIG_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "public_url": {"type": "string", "pattern": "^https?://"},
        "timing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"mode": {"enum": list(TIMING_MODES)}, "queued_for": _SECONDS,
                           "processing_for": _SECONDS, "sync_latency": {**_SECONDS, "maximum": 600},
                           "speed": {"type": "number", "exclusiveMinimum": 0, "maximum": 10_000}},
        },
        "keys": {
            "type": "object",
            "additionalProperties": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {"balance": _USD, "models": {"type": "array", "items": {"type": "string"}},
                               "rate_limit": {"type": "number", "exclusiveMinimum": 0}},
            },
        },
        "default_balance": _USD,
        "default_rate_limit": {"type": "number", "exclusiveMinimum": 0},
        "disabled_models": {"type": "array", "items": {"type": "string"}},
        "variants": {"type": "array", "items": {"type": "string"}},  # the specs' names: see _config_validator
        "rules": {"type": "array", "items": {"type": "object"}},
        "scenarios": {"type": "array", "items": {"type": "object"}},  # the name of earlier releases: deprecated
        "max_body_bytes": {"type": "integer", "minimum": 1024},
        "journal_size": {"type": "integer", "minimum": 1},
        "admin_token": {"type": "string", "minLength": 8},
        "strict": {"type": "boolean"},
        "min_poll_interval": _SECONDS,
        "store": {"type": "string", "pattern": "^(memory|redis|rediss|unix)://"},
        "show_keys": {"type": "boolean"},
        "max_jobs": {"type": "integer", "minimum": 100, "maximum": 100_000_000},
        "header_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "body_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "max_connections": {"type": "integer", "minimum": 16, "maximum": 1_000_000},
        "tls": {"type": "boolean"},
        "tls_cert": {"type": "string", "minLength": 1},
        "tls_key": {"type": "string", "minLength": 1},
        "trust_forwarded": {"type": "boolean"},
        "profile": {"enum": ["pages", "gateway"]},
        "cors_origins": {"type": "array", "items": {"type": "string", "pattern": ORIGIN_PATTERN}},
        "responses": {"enum": list(RESPONSE_MODES)},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "chaos": {"type": "object"},  # the admin spec's Chaos schema: see _config_validator
        "replay": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 100},
        "replay_strict": {"type": "boolean"},
        "replay_speed": {"type": "number", "minimum": 0, "maximum": 1_000_000},
        "replay_on_miss": {"enum": ["mock", "upstream"]},
        "replay_upstream": {"type": "string", "pattern": "^https?://[^/\\s]+(/\\S*)?$"},
        "webhooks": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"allowed_hosts": {"type": "array", "items": {"type": "string"}},
                           "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
                           "backoff": {"type": "number", "minimum": 0, "maximum": 3600},
                           "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
                           "redirect_to": {"type": "string", "pattern": "^https?://"}},
        },
    },
}


@cache
def _config_validator():
    """The config schema, with `variants` limited to the response variants the specs name."""
    from mock_server.operations import load_operations, variant_names  # the specs are read once, on first use

    from mock_server.operations.documents import ADMIN_SPEC, load_bundled

    variants = {"type": "array", "items": {"enum": list(variant_names(load_operations()))}}
    chaos = load_bundled(ADMIN_SPEC)["components"]["schemas"]["Chaos"]
    return jsonschema_rs.validator_for({**CONFIG_SCHEMA, "properties": {**CONFIG_SCHEMA["properties"],
                                                                         "variants": variants, "chaos": chaos}})


def _where(error) -> str:
    return ".".join(str(part) for part in error.instance_path) or "(top level)"


def settings_from_mapping(data: dict, source: str = "config") -> Settings:
    errors = sorted(_config_validator().iter_errors(data), key=lambda e: list(map(str, e.instance_path)))
    if errors:
        raise ConfigError("; ".join(f"{source}: {_where(e)}: {e.message}" for e in errors))
    keys = {
        str(name): KeyConfig(balance=(spec or {}).get("balance"), rate_limit=(spec or {}).get("rate_limit"),
                             models=tuple(spec["models"]) if (spec or {}).get("models") is not None else None)
        for name, spec in (data.get("keys") or {}).items()
    }
    simple = {k: data[k] for k in ("public_url", "default_balance", "default_rate_limit", "max_body_bytes",
                                   "journal_size", "admin_token", "strict", "min_poll_interval", "store", "show_keys",
                                   "max_jobs", "header_timeout", "body_timeout", "max_connections", "tls", "tls_cert",
                                   "tls_key", "trust_forwarded", "profile", "responses", "seed", "chaos",
                                   "replay_strict", "replay_speed", "replay_on_miss", "replay_upstream")
              if k in data}
    webhooks = data.get("webhooks", {})
    webhook_settings = {f"webhook_{name}": value for name, value in webhooks.items() if name != "allowed_hosts"}
    for entry in webhooks.get("allowed_hosts", ()):
        if (problem := allow_list_problem(entry)) is not None:
            raise ConfigError(f"{source}: webhooks.allowed_hosts: {entry!r} {problem}")
    redirect = webhooks.get("redirect_to")
    if redirect and not is_allowed_target(redirect, tuple(webhooks.get("allowed_hosts", ()))):
        raise ConfigError(f"{source}: webhooks.redirect_to {redirect} must be a loopback address or a host of "
                          "webhooks.allowed_hosts, and not the admin API")
    if "cors_origins" in data:
        simple["cors_origins"] = tuple(data["cors_origins"])
    if "replay" in data:
        simple["replay"] = tuple(data["replay"])
    return Settings(
        timing=Timing(**data.get("timing", {})),
        webhook_allowed_hosts=tuple(webhooks.get("allowed_hosts", ())),
        **webhook_settings,
        keys=keys,
        disabled_models=tuple(data.get("disabled_models", ())),
        variants=tuple(data.get("variants", ())),
        rules=tuple(_rules_of(data)),
        **simple,
    )


def _rules_of(data: dict) -> list:
    """The config's `rules:` (its per-test answers); `scenarios:`, their name in earlier releases, still read for
    one release, with a warning."""
    if "scenarios" in data and "rules" in data:
        raise ConfigError("the config gives both `rules:` and `scenarios:` (their earlier name): keep `rules:`")
    if "scenarios" in data:
        log.warning("config: `scenarios:` is deprecated and goes in the next release: call it `rules:`")
    return data.get("rules", data.get("scenarios", ()))


def load_config(path: str | Path) -> Settings:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return settings_from_mapping(data, source=str(path))
