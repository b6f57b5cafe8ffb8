"""Domain errors and Twilio's error body.

Services raise these; one handler in ``http/app.py`` turns them into
``{"code", "message", "more_info", "status"}`` so that every client sees the
shape Twilio's own clients parse (twilio-python's ``TwilioRestException``).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 400
    code = 20001

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return twilio_error_body(self.code, self.message, self.status)


class BadRequest(ApiError):
    status = 400
    code = 20001


class Unauthorized(ApiError):
    """Missing or wrong credentials. The message never says which half was wrong."""

    status = 401
    code = 20003

    def __init__(self) -> None:
        super().__init__("Authenticate")


class Forbidden(ApiError):
    status = 403
    code = 20403


class NotFound(ApiError):
    status = 404
    code = 20404

    def __init__(self, path: str) -> None:
        super().__init__(f"The requested resource {path} was not found")


class MethodNotAllowed(ApiError):
    status = 405
    code = 20004

    def __init__(self) -> None:
        super().__init__("Method not allowed")


class ServiceUnavailable(ApiError):
    """Try again later (the database or the media storage cannot take the
    request now); answered with ``Retry-After``."""

    status = 503
    code = 20503


def twilio_error_body(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
