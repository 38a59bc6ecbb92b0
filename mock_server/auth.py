"""API keys: the header(s) each operation's security requires, which keys exist, which models they reach."""

from typing import NamedTuple

from mock_server.errors import Forbidden, MissingKey, Unauthorized
from mock_server.settings import KeyConfig, Settings
from mock_server.operations import Operation


class Principal(NamedTuple):
    """Who calls: the key, and its configuration (a NamedTuple: made once a request)."""

    key: str
    config: KeyConfig


MAX_KEY_LENGTH = 256  # a longer "key" is no key: 401, and nothing of it is kept


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def authenticate(self, operation: Operation, headers) -> Principal:
        """The caller, from the first security alternative whose headers are all present; else 401 (MissingKey
        when no key header was sent at all)."""
        sent = False
        for alternative in operation.security or ((),):
            values = [(headers.get(name.lower()) or "").strip() for name in alternative]
            sent |= any(values)
            if all(values) and max(map(len, values), default=0) <= MAX_KEY_LENGTH:
                key = values[0] if values else "anonymous"
                config = self._settings.key_config(key)
                if config is None:
                    raise Unauthorized()
                return Principal(key, config)
        raise Unauthorized() if sent else MissingKey()

    @staticmethod
    def authorize(principal: Principal, model_id: str | None) -> None:
        """403 if the key may not use this model."""
        allowed = principal.config.models
        if model_id and allowed is not None and model_id not in allowed:
            raise Forbidden()
