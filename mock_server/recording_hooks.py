"""The recorder's webhook relay: `flux-mock record` hands the API a URL of its own in place of the app's webhook
URL (the `X-Webhook-URL` header, Schnell Batch's `webhook_url`, Kontext's `webhook`), relays each delivery the API
POSTs there to the app's URL, and has it written into the HAR with its time relative to the job's submit.

A relay URL is `{base}/__flux-mock/hooks/{token}`: `base` is where the API can reach the recorder (`record
--webhook-base`, else the address it listens on), the token a random one per submit, so nobody who has not
seen the submit can post into the recording. At most MAX_HOOKS submits are remembered (the oldest forgotten).
"""

import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx

from mock_server.bodies import read_up_to
from mock_server.store.records import WEBHOOK_HEADER

HOOK_PATH = "/__flux-mock/hooks/"
MAX_HOOKS = 10_000  # submits whose relay URL is remembered
RELAY_TIMEOUT = 10.0  # seconds the app may take to answer a relayed delivery
RELAYED_ANSWER_BYTES = 1024 * 1024  # of the app's answer to a delivery, kept and handed back to the API


@dataclass(frozen=True)
class Hook:
    """A submit's webhook: where the app wants it, when the submit was sent, which operation it was."""

    app_url: str
    submitted: float  # epoch seconds
    operation_id: str


class HookRelay:
    """Relay URLs minted per submit, and the relaying of what arrives at them."""

    def __init__(self, base: str | None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = base.rstrip("/") if base else None
        self._hooks: OrderedDict[str, Hook] = OrderedDict()
        self._client = httpx.AsyncClient(timeout=RELAY_TIMEOUT, trust_env=False, follow_redirects=False,
                                         transport=transport)

    def substituted(self, operation_id: str, base: str, headers: list[tuple[str, str]], body: bytes,
                    forms: tuple[bool, tuple[str, ...]]) -> tuple[list[tuple[str, str]], bytes]:
        """The request as the API gets it: each webhook URL it carries (`forms`: whether the operation takes the
        header, and which body fields) replaced by a relay URL of this recorder (`base` unless --webhook-base)."""
        takes_header, fields = forms
        submitted = time.time()
        if takes_header:
            headers = [(name, self._mint(value, submitted, operation_id, base))
                       if name.lower() == WEBHOOK_HEADER.lower() and value else (name, value)
                       for name, value in headers]
        if fields and body:
            try:
                value = json.loads(body)
            except ValueError:
                return headers, body
            if isinstance(value, dict) and any(isinstance(value.get(name), str) and value[name] for name in fields):
                for name in fields:
                    if isinstance(value.get(name), str) and value[name]:
                        value[name] = self._mint(value[name], submitted, operation_id, base)
                body = json.dumps(value).encode()
        return headers, body

    def _mint(self, app_url: str, submitted: float, operation_id: str, base: str) -> str:
        token = secrets.token_urlsafe(18)
        self._hooks[token] = Hook(app_url, submitted, operation_id)
        while len(self._hooks) > MAX_HOOKS:
            self._hooks.popitem(last=False)
        return f"{self.base or base.rstrip('/')}{HOOK_PATH}{token}"

    def hook(self, token: str) -> Hook | None:
        return self._hooks.get(token)

    async def relay(self, hook: Hook, headers: list[tuple[str, str]], body: bytes) -> tuple[httpx.Response, bytes]:
        """The app's answer to the delivery, POSTed to its own URL, and the first RELAYED_ANSWER_BYTES of its body
        (the rest never read); httpx errors raised."""
        async with self._client.stream("POST", hook.app_url, headers=headers, content=body) as answer:
            return answer, await read_up_to(answer.aiter_bytes(), RELAYED_ANSWER_BYTES)

    async def close(self) -> None:
        await self._client.aclose()
