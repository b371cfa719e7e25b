"""The one root of tagfactory's errors: every problem a user can fix is a :class:`TagFactoryError`.

The command line and the jobs print a ``TagFactoryError`` as one ``error: ...`` line and exit 1;
anything else (``ValueError``, ``KeyError``, ...) is a bug and keeps its traceback. Each error
class stays in the module that raises it and derives from one of the families below (and, where
callers catch a builtin, from that builtin too, e.g. ``ListFileError(SourceError, ValueError)``).

This module imports nothing, so the compiler (no Spark, no pydantic) can use it.
"""


class TagFactoryError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class ConfigError(TagFactoryError, ValueError):
    """Settings or command-line options have a wrong value or a wrong combination."""


class CompileError(TagFactoryError):
    """The definitions are invalid or cannot be compiled (``DefinitionError`` and friends)."""


class ManifestError(TagFactoryError):
    """The compiled manifest is missing, of another format, damaged, or does not fit the run."""


class SourceError(TagFactoryError):
    """Input data (a declared source, an audience list file) cannot be read or used."""


class GateError(TagFactoryError):
    """A quality gate failed: nothing was published."""


class WarehouseError(TagFactoryError):
    """A warehouse table or staged run is missing or cannot be read or written."""


class PublishError(WarehouseError):
    """A snapshot cannot be staged or published; the previous version stays current."""


class ExportError(TagFactoryError):
    """Data cannot be exported to a downstream system."""


FAMILIES: tuple[type[TagFactoryError], ...] = (
    ConfigError, CompileError, ManifestError, SourceError, GateError, WarehouseError, PublishError, ExportError)
