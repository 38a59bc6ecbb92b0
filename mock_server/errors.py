"""The exception tree of every answer that is not a success, rendered in the gateway's shape.

    ApiError                     {"error": ..., "message"?: ...}
    +-- BadRequest               400 Invalid request parameters (message names the field)
    |   +-- ModelNotFound        400 Model not found (queue system)
    +-- Unauthorized             401
    +-- InsufficientBalance      402 (queue system)
    +-- Forbidden                403
    +-- EndpointNotFound         404 unknown path
    +-- RequestNotFound          404 unknown request id
    +-- MethodNotAllowed         405 (with Allow)
    +-- PayloadTooLarge          413
    +-- RateLimited              429 (with Retry-After)
    +-- InternalError            500 (only when a scenario asks for it)
    +-- StoreUnavailable         503 (with Retry-After): the shared store (Redis) is not answering
"""


class ApiError(Exception):
    status = 500
    error = "An unexpected error occurred, please try again later"

    def __init__(self, message: str | None = None, *, error: str | None = None, headers: dict | None = None):
        super().__init__(message or error or self.error)
        self.message = message
        if error is not None:
            self.error = error
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": self.error} if self.message is None else {"error": self.error, "message": self.message}


class BadRequest(ApiError):
    status = 400
    error = "Invalid request parameters"


class ModelNotFound(BadRequest):
    error = "Model not found"

    def __init__(self, model_id: str):
        super().__init__(f"Model '{model_id}' not found or is disabled")


class Unauthorized(ApiError):
    status = 401
    error = "Invalid or missing authentication"


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
