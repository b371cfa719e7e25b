"""The one root of the errors tagfactory raises for problems a user can fix (imports nothing)."""

from __future__ import annotations


class TagFactoryError(Exception):
    """A problem with the definitions, the manifest, the settings, the data or a run; the CLI prints it as one line."""


class ManifestError(TagFactoryError):
    """The compiled manifest is missing, of another format, damaged, or does not fit the run."""


class ConfigError(TagFactoryError):
    """Settings or command arguments that cannot work (unknown step, missing run id, bad value)."""


class PublishError(TagFactoryError):
    """A staged run cannot be published (no passing verdict, wrong date, duplicate keys, commit conflict)."""


class SourceError(TagFactoryError):
    """A declared source cannot be read."""


class GateError(TagFactoryError):
    """The quality gate stopped a run: an ``error`` expectation or guardrail failed; nothing was published."""
