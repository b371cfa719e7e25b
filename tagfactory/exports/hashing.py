"""PII treatments of delivered columns as Spark column expressions (docs/hashing-profiles.md).

An export column whose source is PII is delivered under one of the treatments of
:mod:`tagfactory.compiler.export_models` (``drop`` never gets here: a dropped column is simply
not selected):

* ``hash:<profile>`` -- the value normalized by the profile's rules for its kind, then SHA-256
  (lowercase hex); the profiles and their rules are registered in
  :mod:`tagfactory.compiler.hash_profiles`, the Spark builders are here;
* ``mask`` -- see :func:`mask`;
* ``keep`` -- the value as it is (the definition carries a written approval).

Everything runs inside Spark: no Python UDF, no row leaves the JVM. The normalization has two
engines giving the same text (tests/integration/test_hashing.py):

* ``jvm`` (used when available): one Java function per value kind, ``tagfactory_normalize_email /
  _phone / _text`` (``jvm/udf/``, the ``tagfactory-udf`` jar that ``jvm/resolve.py`` builds into the
  Spark jar set, so it is on ``spark.jars`` and ships to executors), registered in the session
  with ``registerJavaFunction`` on first use; one pass over the characters per value;
* ``expressions``: the same rules built from ``pyspark.sql.functions`` (``trim``,
  ``regexp_replace``, ``lower`` ...), about 4x slower; used when the jar is not on the session's
  classpath (logged once).

The hash is Spark's ``sha2(…, 256)`` in both. Null in gives null out, and a value that is empty
after normalization gives null (never the hash of the empty string).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

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

__all__ = ["ENGINES", "JVM_FUNCTIONS", "PROFILES", "Engine", "SparkHashProfile", "UnknownHashProfileError",
           "UnknownTreatmentError", "engine", "hash_column", "mask", "normalize", "profile", "treat"]

log = logging.getLogger(__name__)
Engine = Literal["jvm", "expressions"]
ENGINES: tuple[Engine, ...] = ("jvm", "expressions")
#: The Java normalizers by value kind (jvm/udf): SQL function name, class.
JVM_FUNCTIONS: Mapping[ValueKind, tuple[str, str]] = MappingProxyType({
    "email": ("tagfactory_normalize_email", "io.tagfactory.udf.NormalizeEmail"),
    "phone": ("tagfactory_normalize_phone", "io.tagfactory.udf.NormalizePhone"),
    "other": ("tagfactory_normalize_text", "io.tagfactory.udf.NormalizeText"),
})
# Sessions the Java functions were registered in (True) or could not be (False: jar absent).
_SESSIONS: weakref.WeakKeyDictionary[SparkSession, bool] = weakref.WeakKeyDictionary()
_LOGGED: set[bool] = set()

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
    """``column``, or null where it is null or empty.

    ``nullif`` evaluates ``column`` once (Spark 4 rewrites it with a common expression);
    ``when(length(x) > 0, x)`` evaluated the whole chain twice (the gmail rule, the phone's regex).
    """
    return F.nullif(column, F.lit(""))


def engine(spark: SparkSession | None = None) -> Engine:
    """The engine that normalizes in ``spark`` (default: the active session): ``jvm`` when the
    ``tagfactory-udf`` jar is on its classpath (its functions are then registered in it), else
    ``expressions``. Which one is used is logged once per process (and again if it changes)."""
    session = spark or SparkSession.getActiveSession()
    if session is None:
        return "expressions"
    known = _SESSIONS.get(session)
    if known is None:
        try:
            for name, cls in JVM_FUNCTIONS.values():
                session.udf.registerJavaFunction(name, cls, StringType())
            known = True
        except Exception as exc:  # noqa: BLE001 - py4j or analysis error: the class is not on the classpath
            known = False
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        _SESSIONS[session] = known
        if known not in _LOGGED:
            _LOGGED.add(known)
            if known:
                log.info("PII hashing: normalizing with the JVM functions of the tagfactory-udf jar")
            else:
                log.warning("PII hashing: the tagfactory-udf jar is not on Spark's classpath (%s); normalizing "
                            "with Spark expressions (same values, about 4x slower): run `make jars`", reason)
    return "jvm" if known else "expressions"


_session_engine = engine  # for the methods whose ``engine`` argument shadows the function


def _jvm(column: Column, meta: HashProfile, kind: ValueKind) -> Column:
    name = JVM_FUNCTIONS[kind][0]
    text = column.cast("string")
    if kind == "email":
        return F.call_function(name, text, F.lit(meta.gmail_dots))
    if kind == "phone":
        return F.call_function(name, text, F.lit(meta.phone_format), F.lit(meta.default_country_code).cast("string"))
    return F.call_function(name, text)


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

    def normalize(self, column: Column, kind: ValueKind, engine: Engine | None = None) -> Column:
        """The text that is hashed (null where the value is null or normalizes to nothing).

        ``engine``: ``jvm`` or ``expressions`` (same values); ``None``: :func:`engine` of the active session.
        """
        _check_kind(kind)
        chosen = engine or _session_engine()
        if chosen not in ENGINES:
            raise ValueError(f"engine must be jvm or expressions, not {chosen!r}")
        if chosen == "jvm":
            return _jvm(column, self.meta, kind)
        if kind == "email":
            return _email(column, self.meta)
        if kind == "phone":
            return _phone(column, self.meta)
        return _nonempty(_text(column))

    def hash(self, column: Column, kind: ValueKind, engine: Engine | None = None) -> Column:
        """SHA-256 (64 lowercase hex characters) of :meth:`normalize`; null stays null."""
        return F.sha2(self.normalize(column, kind, engine), 256)


#: Every hashing profile by name, with its Spark builders (read-only).
PROFILES: Mapping[str, SparkHashProfile] = MappingProxyType({n: SparkHashProfile(m) for n, m in registry.PROFILES.items()})


def profile(name: str) -> SparkHashProfile:
    """The profile called ``name``; :class:`UnknownHashProfileError` (a ``ConfigError``) if none."""
    return PROFILES[hash_profile(name).name]


def normalize(column: Column, profile_name: str, kind: ValueKind, engine: Engine | None = None) -> Column:
    """``column`` normalized by the profile ``profile_name`` for values of ``kind``."""
    return profile(profile_name).normalize(column, kind, engine)


def hash_column(column: Column, profile_name: str, kind: ValueKind, engine: Engine | None = None) -> Column:
    """``column`` hashed under the profile ``profile_name`` for values of ``kind``."""
    return profile(profile_name).hash(column, kind, engine)


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


def treat(column: Column, treatment: str, value_kind: ValueKind, engine: Engine | None = None) -> Column:
    """``column`` under a PII treatment: ``mask``, ``hash:<profile>`` or ``keep``.

    The treatment strings are those of ``ExportedColumn.pii``. ``drop`` is refused (a dropped
    column is left out of the selection, not treated); an unknown treatment or profile raises a
    :class:`ConfigError` subclass with a did-you-mean. ``engine``: see :meth:`SparkHashProfile.normalize`.
    """
    _check_kind(value_kind)
    text = treatment.strip()
    if text == "keep":
        return column
    if text == "mask":
        return mask(column, value_kind)
    head, sep, name = text.partition(":")
    if sep and head.strip() == "hash":
        return hash_column(column, name.strip(), value_kind, engine)
    if text == "drop":
        raise UnknownTreatmentError("PII treatment `drop` has no column expression: leave the column out")
    hint = did_you_mean(text, ("mask", "keep", "hash")) or f"treatments: {', '.join(TREATMENTS)}"
    raise UnknownTreatmentError(f"unknown PII treatment `{treatment}`: {hint}")


def _check_kind(kind: str) -> None:
    if kind not in VALUE_KINDS:
        raise ValueError(f"value kind must be email, phone or other, not {kind!r}")
