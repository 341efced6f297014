"""The control plane's errors.

::

    ApiError                 every error of the typed client (kvstore.controllers.api)
    ├── NotFoundError        no such object
    ├── AlreadyExistsError   create of an object that exists
    ├── ConflictError        resourceVersion is stale (optimistic concurrency lost)
    └── InvalidError         the object failed validation; ``field`` names the field
"""

from __future__ import annotations


class ApiError(Exception):
    """Base of the typed client's errors."""


class NotFoundError(ApiError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class AlreadyExistsError(ApiError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} already exists")


class ConflictError(ApiError):
    """The object was modified since it was read: re-read and retry."""

    def __init__(self, what: str, expected: int, actual: int) -> None:
        super().__init__(
            f"Operation cannot be fulfilled on {what}: the object has been modified "
            f"(resourceVersion {expected}, now {actual}); please apply your changes "
            "to the latest version and try again"
        )
        self.expected = expected
        self.actual = actual


class InvalidError(ApiError):
    """``field: message``, e.g. ``spec.replicas: must be >= 0``."""

    def __init__(self, what: str, field: str, message: str) -> None:
        super().__init__(f"{what} is invalid: {field}: {message}")
        self.field = field
        self.detail = message
