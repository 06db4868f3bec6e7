"""The errors services raise for the API to map: 404, 409, 403 (422s are RuleErrors)."""

from __future__ import annotations


class NotFound(LookupError):
    """The thing does not exist or the caller may not see it (never tell which)."""


class Conflict(ValueError):
    """The request is valid but clashes with current state (409)."""


class Forbidden(PermissionError):
    """The caller is known but not allowed (403)."""
