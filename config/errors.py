"""The one base class of the errors the product shows to people.

A service raises a subclass with a message written for the person who acted ("Too late: the
claim window for this lead has closed."). Pages show the message; the API renders every
subclass through one exception handler (``config.api.errors``) with the subclass's status
code, so no view maps a domain error by hand.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A refusal in words for the person who asked; ``status_code`` is the API's answer."""

    status_code: int = 400

    def __init__(self, message: str = "", *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
