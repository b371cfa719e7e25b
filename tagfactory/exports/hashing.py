"""PII treatments of delivered columns as Spark column expressions (docs/hashing-profiles.md).

An export column whose source is PII is delivered under one of the treatments of
:mod:`tagfactory.compiler.export_models` (``drop`` never gets here: a dropped column is simply
not selected):

* ``hash:<profile>`` -- the value normalized by the profile's rules for its kind, then SHA-256
  (lowercase hex); the profiles and their rules are registered in
  :mod:`tagfactory.compiler.hash_profiles`, the Spark builders are here;
* ``mask`` -- see :func:`mask`;
* ``keep`` -- the value as it is (the definition carries a written approval).

Everything is built from ``pyspark.sql.functions`` (``regexp_replace``, ``lower``, ``sha2`` ...)
and runs inside Spark: no Python UDF, no row leaves the JVM. Null in gives null out, and a value
that is empty after normalization gives null (never the hash of the empty string).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pyspark.sql import Column
from pyspark.sql import functions as F

from tagfactory.compiler import hash_profiles as registry
from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.compiler.hash_profiles import (
    GMAIL_DOMAINS,
    TRIM_CHARS,
    VALUE_KINDS,
    HashProfile,
    UnknownHashProfileError,
    ValueKind,
    hash_profile,
)
from tagfactory.errors import ConfigError

__all__ = ["PROFILES", "SparkHashProfile", "UnknownHashProfileError", "UnknownTreatmentError",
           "hash_column", "mask", "normalize", "profile", "treat"]

TREATMENTS = ("mask", "keep", "hash:<profile>")
#: How many characters :func:`mask` shows at the end of a non-email value.
MASK_KEEP = 4
# Java regexes, used where no plain string function does the job (they cost most of the time).
_INTERNATIONAL = "^[^0-9+]*(?:\\+|0[^0-9+]*0)"  # the first of the digits and '+' is '+' or "00"
_EMAIL_SHAPE = "(?s)^.+@[^@]+\\z"


class UnknownTreatmentError(ConfigError):
    """A PII treatment string is none of ``mask``, ``keep``, ``hash:<profile>``."""


def _text(column: Column) -> Column:
    """The value as a string with the trim characters removed at both ends."""
    return F.trim(column.cast("string"), F.lit(TRIM_CHARS))


def _nonempty(column: Column) -> Column:
    """``column``, or null where it is null or empty."""
    return F.when(F.length(column) > 0, column)


def _email(column: Column, meta: HashProfile) -> Column:
    value = F.lower(_text(column))
    if meta.gmail_dots:
        gmail = F.lit(False)
        for domain in GMAIL_DOMAINS:
            gmail = gmail | value.endswith("@" + domain)
        domain_part = F.substring_index(value, "@", -1)  # after the last '@'
        local = F.substring(value, F.lit(1), F.length(value) - F.length(domain_part) - 1)
        value = F.when(gmail, F.concat(F.translate(local, ".", ""), F.lit("@"), domain_part)).otherwise(value)
    return _nonempty(value)


def _phone(column: Column, meta: HashProfile) -> Column:
    text = _text(column)
    digits = F.regexp_replace(text, "[^0-9]", "")
    if meta.phone_format == "digits":
        return _nonempty(digits)
    number = _nonempty(F.ltrim(digits, F.lit("0")))
    prefix = "+" if meta.phone_format == "e164" else ""
    if meta.default_country_code:
        national = F.lit(prefix + meta.default_country_code)
        return F.concat(F.when(text.rlike(_INTERNATIONAL), F.lit(prefix)).otherwise(national), number)
    return F.concat(F.lit(prefix), number) if prefix else number


@dataclass(frozen=True)
class SparkHashProfile:
    """A registered hashing profile (:class:`HashProfile`) with its Spark column builders."""

    meta: HashProfile

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> int:
        return self.meta.version

    @property
    def description(self) -> str:
        return self.meta.description

    def normalize(self, column: Column, kind: ValueKind) -> Column:
        """The text that is hashed (null where the value is null or normalizes to nothing)."""
        _check_kind(kind)
        if kind == "email":
            return _email(column, self.meta)
        if kind == "phone":
            return _phone(column, self.meta)
        return _nonempty(_text(column))

    def hash(self, column: Column, kind: ValueKind) -> Column:
        """SHA-256 (64 lowercase hex characters) of :meth:`normalize`; null stays null."""
        return F.sha2(self.normalize(column, kind), 256)


#: Every hashing profile by name, with its Spark builders (read-only).
PROFILES: Mapping[str, SparkHashProfile] = MappingProxyType({n: SparkHashProfile(m) for n, m in registry.PROFILES.items()})


def profile(name: str) -> SparkHashProfile:
    """The profile called ``name``; :class:`UnknownHashProfileError` (a ``ConfigError``) if none."""
    return PROFILES[hash_profile(name).name]


def normalize(column: Column, profile_name: str, kind: ValueKind) -> Column:
    """``column`` normalized by the profile ``profile_name`` for values of ``kind``."""
    return profile(profile_name).normalize(column, kind)


def hash_column(column: Column, profile_name: str, kind: ValueKind) -> Column:
    """``column`` hashed under the profile ``profile_name`` for values of ``kind``."""
    return profile(profile_name).hash(column, kind)


def mask(column: Column, kind: ValueKind) -> Column:
    """The value (trimmed) with all but its last 4 characters replaced by ``*``.

    * ``"+86 138 0013 8000"`` -> ``"*************8000"`` (the length stays visible);
    * a value of 4 characters or fewer is masked entirely (``"1234"`` -> ``"****"``);
    * an ``email`` with a local part and a domain keeps the first character of the local part
      and the domain after the last ``@``, with a fixed ``***`` in between (the local part's
      length is not shown): ``"John.Doe@Example.com"`` -> ``"J***@Example.com"``; an ``email``
      value without that shape is masked like any other value;
    * null, and values empty after trimming, give null.
    """
    _check_kind(kind)
    text = _nonempty(_text(column))
    length = F.length(text)
    star = F.lit("*")
    masked = F.when(length > MASK_KEEP,
                    F.concat(F.repeat(star, length - MASK_KEEP), F.substring(text, -MASK_KEEP, MASK_KEEP))
                    ).otherwise(F.repeat(star, length))
    if kind != "email":
        return masked
    email = F.concat(F.substring(text, 1, 1), F.lit("***@"), F.substring_index(text, "@", -1))
    return F.when(text.rlike(_EMAIL_SHAPE), email).otherwise(masked)


def treat(column: Column, treatment: str, value_kind: ValueKind) -> Column:
    """``column`` under a PII treatment: ``mask``, ``hash:<profile>`` or ``keep``.

    The treatment strings are those of ``ExportedColumn.pii``. ``drop`` is refused (a dropped
    column is left out of the selection, not treated); an unknown treatment or profile raises a
    :class:`ConfigError` subclass with a did-you-mean.
    """
    _check_kind(value_kind)
    text = treatment.strip()
    if text == "keep":
        return column
    if text == "mask":
        return mask(column, value_kind)
    head, sep, name = text.partition(":")
    if sep and head.strip() == "hash":
        return hash_column(column, name.strip(), value_kind)
    if text == "drop":
        raise UnknownTreatmentError("PII treatment `drop` has no column expression: leave the column out")
    hint = did_you_mean(text, ("mask", "keep", "hash")) or f"treatments: {', '.join(TREATMENTS)}"
    raise UnknownTreatmentError(f"unknown PII treatment `{treatment}`: {hint}")


def _check_kind(kind: str) -> None:
    if kind not in VALUE_KINDS:
        raise ValueError(f"value kind must be email, phone or other, not {kind!r}")
