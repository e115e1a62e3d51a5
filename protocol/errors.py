"""OpenAI-style error bodies: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from pydantic import BaseModel

from framecast.protocol.vocabulary import ErrorCode


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class RequestFieldError(ValueError):
    """A request is invalid because of one named field (the `param` of the error body)."""

    def __init__(self, param: str | None, message: str, code: str = ErrorCode.INVALID_VALUE):
        super().__init__(message)
        self.param = param
        self.message = message
        self.code = code

    def to_body(self) -> ErrorBody:
        return ErrorBody(
            message=self.message, type="invalid_request_error", param=self.param, code=self.code
        )


# Where FastAPI says a field was (the first part of its error locations).
_REQUEST_PARTS = ("body", "query", "path", "header", "cookie")


def validation_error_body(errors: list[dict]) -> ErrorBody:
    """The first of pydantic's (or FastAPI's) validation errors, as an error naming its field."""
    first = errors[0]
    location = [str(part) for part in first.get("loc", ())]
    if location and location[0] in _REQUEST_PARTS:
        location = location[1:]  # FastAPI's prefix: the field's name is what the client sent
    if first.get("type") == "json_invalid":
        return ErrorBody(message="request body is not valid JSON", type="invalid_request_error", code=ErrorCode.INVALID_JSON)
    if first.get("type") == "model_attributes_type" or not location:
        return ErrorBody(message="request body must be a JSON object", type="invalid_request_error", code=ErrorCode.INVALID_BODY)
    param = ".".join(location)
    if first.get("type") == "extra_forbidden":
        message = f"{param}: unknown field"
        code = ErrorCode.UNKNOWN_FIELD
    elif first.get("type") == "missing":
        message = f"{param}: required"
        code = ErrorCode.MISSING_FIELD
    else:
        # pydantic prefixes messages raised by validators; the client needs only the reason.
        reason = str(first.get("msg", "")).removeprefix("Value error, ")
        message = reason if reason.startswith(param) else f"{param}: {reason}"
        code = ErrorCode.INVALID_VALUE
    return ErrorBody(message=message, type="invalid_request_error", param=param, code=code)
