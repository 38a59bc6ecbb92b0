"""Answer bodies: JSON rendered by orjson (compact, UTF-8), and errors in the gateway's shape."""

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
