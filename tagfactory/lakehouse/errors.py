"""Errors of the Delta writers and readers, and the translation of library errors into them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from tagfactory.errors import PublishError, WarehouseError

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class DeltaIOError(WarehouseError, RuntimeError):
    """A Delta table could not be read or written; the message says what to do."""


class DeltaPublishError(DeltaIOError, PublishError):
    """Staging or committing data to a Delta table failed; the table is left unchanged."""


@contextmanager
def translated(
    action: str,
    table_uri: str,
    advice: str,
    error: type[DeltaIOError] = DeltaPublishError,
) -> Iterator[None]:
    """Turn library errors (py4j, Spark, delta-rs) into one readable error naming the table."""
    try:
        yield
    except DeltaIOError:
        raise
    except Exception as exc:
        raise error(f"{action} Delta table {table_uri} failed: {reason(exc)}. {advice}") from exc


def reason(exc: BaseException) -> str:
    """One line saying why ``exc`` happened, for an error message.

    Uses the Java exception rather than py4j's wrapper text, and joins delta-rs's cause chain
    (one cause per line, each marked with an arrow) with colons.
    """
    java = getattr(exc, "java_exception", None)
    text = _ANSI_ESCAPE.sub("", str(java.toString()) if java is not None else str(exc))
    lines = [line.strip().lstrip("\u21b3").strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if "\u21b3" not in text:
        lines = lines[:1]
    return (": ".join(lines) or type(exc).__name__)[:500].rstrip(".")
