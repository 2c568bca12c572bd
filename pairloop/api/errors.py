"""What the API answers when it refuses or fails, as declared in /openapi.json.

Two shapes, both ``{"detail": ...}``: one message (:class:`ErrorResponse`, every error a
use case raises, a refused caller, a body over the limit), or FastAPI's list of what failed
validation (:class:`ValidationErrorResponse`, parameters or body that do not match the
schema). A 422 can be either: the schema is checked first, the use case then refuses values
it cannot work with (an empty pool, an unknown LLM backend) with one message.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, RootModel

JSON_BODY_LIMIT = 64 * 1024  # a round request is a few fields
WEBHOOK_BODY_LIMIT = 1024 * 1024  # a Label Studio delivery carries one task's data and one annotation
MAX_ECHOED_INPUT = 200  # characters of a rejected value a 422 repeats; larger values are left out


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, in one message.")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: path, query, header or body, then the field.")
    msg: str
    type: str = Field(description="The kind of error (pydantic's error type).")
    input: Any = Field(None, description=f"The value refused, when under {MAX_ECHOED_INPUT} characters.")
    ctx: dict[str, Any] | None = Field(None, description="The constraint that failed, e.g. its limit.")


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError] = Field(description="Each parameter or body field that failed validation.")


class UnprocessableResponse(RootModel[ValidationErrorResponse | ErrorResponse]):
    """A 422: the fields that failed validation, or why the operation cannot work with the values."""


_DESCRIPTIONS = {
    400: "A body that cannot be read: not UTF-8 JSON, or not a Label Studio delivery pairloop can read.",
    401: "Missing or wrong credentials.",
    404: "No such round, pair, snapshot or file.",
    409: "The state does not allow this (e.g. the round is closed, or a snapshot's files no longer match "
         "its manifest).",
    413: f"The request body is over its limit: {JSON_BODY_LIMIT // 1024} KiB on the REST API, "
         f"{WEBHOOK_BODY_LIMIT // 1024 ** 2} MiB on the webhook.",
    422: "Parameters or body that fail validation (a list of field errors), or values the operation "
         "cannot work with (one message).",
    502: "Label Studio or the LLM answered with an error.",
    503: "The database, Label Studio or the LLM cannot be reached; work done so far is kept, retry to resume.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route or router: each status with its body's model and what it means."""
    return {status: {"model": UnprocessableResponse if status == 422 else ErrorResponse,
                     "description": _DESCRIPTIONS[status]}
            for status in statuses}
