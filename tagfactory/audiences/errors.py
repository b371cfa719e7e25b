"""The error of the audience job: its inputs are missing or do not fit the manifest."""

from __future__ import annotations

from tagfactory.errors import PublishError


class AudienceError(PublishError, RuntimeError):
    """The audiences cannot be materialized (e.g. no profile snapshot for the date)."""
