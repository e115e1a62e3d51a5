"""OpenAI-style errors for every failure the frontend reports, and the one table of the HTTP
status each error code is answered with."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from framecast.protocol import ErrorBody, ErrorCode, ErrorResponse, RequestFieldError, validation_error_body

log = logging.getLogger(__name__)

_FIELD_CODES = (
    ErrorCode.INVALID_JSON, ErrorCode.INVALID_BODY, ErrorCode.UNKNOWN_FIELD, ErrorCode.MISSING_FIELD,
    ErrorCode.INVALID_VALUE, ErrorCode.CONFLICTING_VALUE, ErrorCode.UNSUPPORTED_VALUE, ErrorCode.TOO_LONG,
    ErrorCode.TOO_LARGE, ErrorCode.OVER_LIMIT,
)  # fmt: skip

# The HTTP status of every error code. A job's own end is answered with it by the synchronous
# route; the jobs API reports it inside the video object.
STATUS_BY_CODE: dict[ErrorCode, int] = {code: 400 for code in _FIELD_CODES} | {
    ErrorCode.GENERATION_FAILED: 502,
    ErrorCode.WORKER_LOST: 502,
    ErrorCode.WORKER_DRAINING: 503,
    ErrorCode.NO_LIVE_WORKER: 503,
    ErrorCode.OWNER_LOST: 503,
    ErrorCode.CANCELLED: 409,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.QUEUE_FULL: 429,
    ErrorCode.TOO_MANY_JOBS: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INVALID_API_KEY: 401,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.VIDEO_NOT_FOUND: 404,
    ErrorCode.VIDEO_NOT_READY: 409,
    ErrorCode.VIDEO_EXPIRED: 404,
    ErrorCode.IMAGE_NOT_FOUND: 404,
    ErrorCode.VARIANT_NOT_FOUND: 404,
    ErrorCode.CONTENT_MISSING: 404,
    ErrorCode.RANGE_NOT_SATISFIABLE: 416,
}

# OpenAI's error `type` for each status the frontend returns.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    416: "invalid_request_error",
    429: "rate_limit_error",
}


def status_of(code: str | None, *, param: str | None = None, error_type: str | None = None) -> int:
    """The status for an error code; a code this table does not know (a newer worker's) is a 400
    when it names a field or is the client's fault, else a 502."""
    try:
        return STATUS_BY_CODE[ErrorCode(code)]
    except ValueError:
        return 400 if param or error_type == "invalid_request_error" else 502


def error_type_of(status: int) -> str:
    return _TYPE_BY_STATUS.get(status, "server_error")


class BodyTooLarge(Exception):
    """Raised while a request body is read past the size limit."""

    def __init__(self, limit: int):
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class ApiError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        error_type: str | None = None,
    ):
        super().__init__(message)
        self.status = status_of(code, param=param, error_type=error_type)
        self.headers = headers
        self.body = ErrorBody(message=message, type=error_type_of(self.status), param=param, code=code)

    @classmethod
    def from_body(cls, body: ErrorBody) -> ApiError:
        return cls(body.code or ErrorCode.INVALID_VALUE, body.message, param=body.param, error_type=body.type)


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=body).model_dump(), status_code=status, headers=headers)


def api_error_response(error: ApiError) -> JSONResponse:
    return error_response(error.status, error.body, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    # Imported here: the job package depends on nothing of this module, and this is the one
    # place that says which HTTP status each of its refusals is.
    from framecast.frontend.jobs.admission import QueueFull
    from framecast.frontend.jobs.intake import TooManyJobs
    from framecast.frontend.jobs.store import StoreUnavailable

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, error: QueueFull) -> JSONResponse:
        message = f"{error}; try again in {error.retry_after_s}s"
        return api_error_response(ApiError(ErrorCode.QUEUE_FULL, message, headers={"retry-after": str(error.retry_after_s)}))

    @app.exception_handler(TooManyJobs)
    async def _too_many(request: Request, error: TooManyJobs) -> JSONResponse:
        return api_error_response(ApiError(ErrorCode.TOO_MANY_JOBS, str(error), headers={"retry-after": "5"}))

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, error: StoreUnavailable) -> JSONResponse:
        return api_error_response(ApiError(ErrorCode.UNAVAILABLE, str(error), headers={"retry-after": "5"}))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return api_error_response(error)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, error: BodyTooLarge) -> JSONResponse:
        return api_error_response(ApiError(ErrorCode.BODY_TOO_LARGE, str(error)))

    @app.exception_handler(RequestFieldError)
    async def _field_error(request: Request, error: RequestFieldError) -> JSONResponse:
        return api_error_response(ApiError.from_body(error.to_body()))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return api_error_response(ApiError.from_body(validation_error_body(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else "request failed"
        if error.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        body = ErrorBody(message=message, type=error_type_of(error.status_code))
        return error_response(error.status_code, body, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # The trace goes to the log, never to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return api_error_response(ApiError(ErrorCode.INTERNAL_ERROR, "internal error"))
