"""Answer bodies: JSON rendered by orjson (compact, UTF-8), errors in the gateway's shape, and the two
answers a faulty network gives: a body that trickles in, a connection closed mid-answer."""

import json

import orjson
from starlette.responses import Response

from mock_server.errors import ApiError


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # an integer beyond 64 bits (a generated boundary number): valid JSON all the same
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(error: ApiError, profile: str = "pages") -> JSONBody:
    return JSONBody(error.body(profile), status_code=error.status, headers=error.headers)


class SlowBody(Response):
    """Another answer, its body sent in pieces over `seconds` (a slow network or an overloaded gateway)."""

    PIECES = 8

    def __init__(self, answer: Response, seconds: float, clock) -> None:
        super().__init__(answer.body, status_code=answer.status_code)
        self.raw_headers = answer.raw_headers
        self.seconds, self.clock = seconds, clock

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        size = max(1, -(-len(self.body) // self.PIECES))
        for start in range(0, len(self.body), size):
            await send({"type": "http.response.body", "body": self.body[start:start + size], "more_body": True})
            await self.clock.sleep(self.seconds / self.PIECES)
        await send({"type": "http.response.body", "body": b""})


class DroppedConnection(Response):
    """Starts an answer and never finishes it: the server closes the connection mid-response."""

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
