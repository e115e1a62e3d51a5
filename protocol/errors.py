"""OpenAI-style error bodies: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class RequestFieldError(ValueError):
    """A request is invalid because of one named field (the `param` of the error body)."""

    def __init__(self, param: str | None, message: str, code: str = "invalid_value"):
        super().__init__(message)
        self.param = param
        self.message = message
        self.code = code

    def to_body(self) -> ErrorBody:
        return ErrorBody(
            message=self.message, type="invalid_request_error", param=self.param, code=self.code
        )
