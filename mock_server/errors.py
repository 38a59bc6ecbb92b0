"""The exception tree of every answer that is not a success, rendered in the gateway's shape.

    ApiError                     {"error": ..., "message"?: ...}
    +-- BadRequest               400 Invalid request parameters (message names the field)
    |   +-- ModelNotFound        400 Model not found (queue system)
    +-- Unauthorized             401 invalid key
    |   +-- MissingKey           401 no key
    +-- InsufficientBalance      402 (queue system)
    +-- Forbidden                403
    +-- EndpointNotFound         404
    |   +-- UnknownPath          404 unknown path
    +-- RequestNotFound          404 unknown request id
    +-- MethodNotAllowed         405 (with Allow)
    +-- PayloadTooLarge          413
    +-- RateLimited              429 (with Retry-After)
    +-- InternalError            500 (only when a rule asks for it)
    +-- StoreUnavailable         503 (with Retry-After): the shared store (Redis) is not answering
    +-- UpstreamFailed           502 in APIM's shape: the real host did not answer (record, a replay that learns)

The gateway in front of the API (Azure API Management) answers some of these itself, in its own shape
{"statusCode": N, "message": ...}: under `profile: gateway`, the errors with a `gateway_message` (401
missing or invalid key, 404 unknown path, 429) are rendered that way; the pages' shape otherwise.
"""

PROFILES = ("pages", "gateway")
# What APIM says when it fails on the way to the API: forced by a rule in every profile.
GATEWAY_FAILURES = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def gateway_body(status: int, message: str) -> dict:
    return {"statusCode": status, "message": message}


class ApiError(Exception):
    status = 500
    error = "An unexpected error occurred, please try again later"

    def __init__(self, message: str | None = None, *, error: str | None = None, headers: dict | None = None):
        super().__init__(message or error or self.error)
        self.message = message
        if error is not None:
            self.error = error
        self.headers = headers or {}

    gateway_message: str | None = None  # what APIM answers instead, under profile: gateway

    def body(self, profile: str = "pages") -> dict:
        if profile == "gateway" and self.gateway_message is not None:
            return gateway_body(self.status, self.gateway_message)
        return {"error": self.error} if self.message is None else {"error": self.error, "message": self.message}


class BadRequest(ApiError):
    status = 400
    error = "Invalid request parameters"

    def __init__(self, message: str | None = None, *, error: str | None = None, violations: list[str] | None = None):
        super().__init__(message, error=error)
        self.violations = violations  # every violation, when there are several (the first is the message)

    def body(self, profile: str = "pages") -> dict:
        body = super().body(profile)
        return {**body, "violations": self.violations} if self.violations else body


class ModelNotFound(BadRequest):
    error = "Model not found"

    def __init__(self, model_id: str):
        super().__init__(f"Model '{model_id}' not found or is disabled")


class Unauthorized(ApiError):
    status = 401
    error = "Invalid or missing authentication"
    gateway_message = ("Access denied due to invalid subscription key. Make sure to provide a valid key for an "
                       "active subscription.")


class MissingKey(Unauthorized):
    gateway_message = ("Access denied due to missing subscription key. Make sure to include subscription key when "
                       "making requests to an API.")


class InsufficientBalance(ApiError):
    status = 402
    error = "Insufficient Balance"

    def __init__(self):
        super().__init__("Your wallet does not have enough balance.")


class Forbidden(ApiError):
    status = 403
    error = "Access denied for this operation"


class EndpointNotFound(ApiError):
    status = 404
    error = "Endpoint not found"


class UnknownPath(EndpointNotFound):
    """No operation at this path: the gateway itself answers."""

    gateway_message = "Resource not found"


class RequestNotFound(ApiError):
    status = 404
    error = "Request not found"

    def __init__(self, request_id: str):
        super().__init__(f"No request with id '{request_id[:200]}' was found")


class MethodNotAllowed(ApiError):
    status = 405
    error = "Method not allowed"


class PayloadTooLarge(ApiError):
    status = 413
    error = "Request entity too large"

    def __init__(self, limit: int):
        super().__init__(f"The request body is larger than {limit} bytes")


class RateLimited(ApiError):
    status = 429
    error = "Rate limit exceeded, please retry later"

    def __init__(self, retry_after: int):
        super().__init__(headers={"Retry-After": str(retry_after)})
        self.gateway_message = f"Rate limit is exceeded. Try again in {retry_after} seconds."


class InternalError(ApiError):
    status = 500


class StoreUnavailable(ApiError):
    """The shared store did not answer: the request cannot be served now, and will be once it is back."""

    status = 503
    error = "Service Unavailable"

    def __init__(self, reason: str = "") -> None:
        super().__init__("the mock's shared store (Redis) is not answering; retry shortly"
                         + (f" ({reason})" if reason else ""), headers={"Retry-After": "1"})
        self.reason = reason


class UpstreamFailed(ApiError):
    """flux-mock could not get an answer from the real host (`record`, `serve --replay --on-miss upstream`): a
    network failure, never drift, answered as the gateway (Azure APIM) answers its own failures on the way to
    the API."""

    status = 502
    error = "Bad Gateway"

    def body(self, profile: str = "pages") -> dict:
        return gateway_body(self.status, self.message or self.error)
