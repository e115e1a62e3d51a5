"""OpenAI-style errors for every failure the frontend reports."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from framecast.protocol import ErrorBody, ErrorResponse, RequestFieldError

log = logging.getLogger(__name__)

# OpenAI's error `type` for each status the frontend returns.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class BodyTooLarge(Exception):
    """Raised while a request body is read past the size limit."""

    def __init__(self, limit: int):
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.headers = headers
        self.body = ErrorBody(
            message=message, type=_TYPE_BY_STATUS.get(status, "server_error"), param=param, code=code
        )

    @classmethod
    def from_body(cls, status: int, body: ErrorBody) -> ApiError:
        return cls(status, body.message, param=body.param, code=body.code)


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=body).model_dump(), status_code=status, headers=headers)


def validation_error_body(errors: list[dict]) -> ErrorBody:
    """The first of pydantic's (or FastAPI's) validation errors, as an error naming its field."""
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return ErrorBody(message="request body is not valid JSON", type="invalid_request_error", code="invalid_json")
    if first.get("type") == "model_attributes_type" or not location:
        return ErrorBody(message="request body must be a JSON object", type="invalid_request_error", code="invalid_body")
    param = ".".join(location)
    if first.get("type") == "extra_forbidden":
        message = f"{param}: unknown field"
        code = "unknown_field"
    elif first.get("type") == "missing":
        message = f"{param}: required"
        code = "missing_field"
    else:
        # pydantic prefixes messages raised by validators; the client needs only the reason.
        reason = str(first.get("msg", "")).removeprefix("Value error, ")
        message = reason if reason.startswith(param) else f"{param}: {reason}"
        code = "invalid_value"
    return ErrorBody(message=message, type="invalid_request_error", param=param, code=code)


def install_error_handlers(app: FastAPI) -> None:
    # Imported here: the job package depends on nothing of this module, and this is the one
    # place that says which HTTP status each of its refusals is.
    from framecast.frontend.jobs.admission import QueueFull
    from framecast.frontend.jobs.manager import StoreUnavailable, TooManyJobs

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, error: QueueFull) -> JSONResponse:
        body = ErrorBody(message=f"{error}; try again in {error.retry_after_s}s", type="rate_limit_error", code="queue_full")
        return error_response(429, body, headers={"retry-after": str(error.retry_after_s)})

    @app.exception_handler(TooManyJobs)
    async def _too_many(request: Request, error: TooManyJobs) -> JSONResponse:
        body = ErrorBody(message=str(error), type="rate_limit_error", code="too_many_jobs")
        return error_response(429, body, headers={"retry-after": "5"})

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, error: StoreUnavailable) -> JSONResponse:
        body = ErrorBody(message=str(error), type="server_error", code="unavailable")
        return error_response(503, body, headers={"retry-after": "5"})

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.body, headers=error.headers)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, error: BodyTooLarge) -> JSONResponse:
        return error_response(413, ErrorBody(message=str(error), type="invalid_request_error", code="body_too_large"))

    @app.exception_handler(RequestFieldError)
    async def _field_error(request: Request, error: RequestFieldError) -> JSONResponse:
        return error_response(400, error.to_body())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, validation_error_body(error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else "request failed"
        if error.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        body = ErrorBody(message=message, type=_TYPE_BY_STATUS.get(error.status_code, "server_error"))
        return error_response(error.status_code, body, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # The trace goes to the log, never to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, ErrorBody(message="internal error", type="server_error", code="internal_error"))
