"""The registry of hashing profiles: names, versions and normalization rules (docs/hashing-profiles.md).

An export column whose source is PII may be delivered as ``hash: <profile>``: the value is
normalized the way the profile says for its kind (``email``, ``phone`` or ``other``), then
replaced by the lowercase hex SHA-256 of the normalized text's UTF-8 bytes. A profile name
carries its version (``meta_v1``): a profile's rules never change once published; a changed rule
is a new profile (``meta_v2``), so a delivered hash can always be reproduced.

This module holds only the metadata and imports no Spark: the compiler validates ``hash:``
names against :data:`PROFILES`; the Spark column builders live in
:mod:`tagfactory.exports.hashing` and read their rules from here.

Rules shared by every profile (each is a published test vector):

* **trim** removes leading and trailing whitespace: the ASCII white space characters (space,
  tab, newline, vertical tab, form feed, carriage return) and U+00A0 (no-break space), U+200B
  (zero-width space), U+3000 (ideographic space) and U+FEFF (byte-order mark); inner spaces stay;
* **no Unicode normalization**: text is hashed as it is written (a composed and a decomposed
  ``é`` hash differently);
* **null in, null out**, and a value that is empty after normalization gives null, never the
  hash of the empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.errors import ConfigError

ValueKind = Literal["email", "phone", "other"]
VALUE_KINDS: tuple[ValueKind, ...] = ("email", "phone", "other")
#: How a profile writes a phone number before hashing (see :class:`HashProfile`).
PhoneFormat = Literal["digits", "international_digits", "e164"]
#: The characters ``trim`` removes at both ends of a value.
TRIM_CHARS = " \t\n\x0b\f\r\u00a0\u200b\u3000\ufeff"
#: Email domains whose local part ignores dots (Google's rule for ``gmail_dots`` profiles).
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")

GOOGLE_SOURCE = ("Google Ads API, 'Normalize and hash user-provided data' (enhanced conversions / Customer "
                 "Match): remove leading and trailing whitespace, lowercase, phone numbers in E.164, remove "
                 "all periods (.) before the domain of gmail.com and googlemail.com addresses; "
                 "https://developers.google.com/google-ads/api/docs/conversions/enhance-conversions and "
                 "https://developers.google.com/display-video/api/guides/tasks/upload-customer-match-audience/prepare-data")
META_SOURCE = ("Meta Marketing API, Custom Audiences 'Hashing and Normalizing Data': email trimmed and "
               "lowercased; phone: remove symbols, letters and any leading zeros, include the country code "
               "(no '+'); https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences")


@dataclass(frozen=True)
class HashProfile:
    """One named, versioned hashing profile.

    Attributes:
        name: The name written in definitions (``hash: <name>``); it ends with ``_v<version>``.
        version: The version of the rules (a new version is a new profile, the old one stays).
        description: One line for docs and error messages.
        email: What happens to an ``email`` value before hashing.
        phone: What happens to a ``phone`` value before hashing.
        other: What happens to any other value (generic ids) before hashing.
        phone_format: ``digits`` (every non-digit removed, nothing else), ``international_digits``
            (country code included, leading zeros removed, no ``+``) or ``e164`` (the same with a
            leading ``+``).
        default_country_code: For ``international_digits`` / ``e164``: the country calling code
            put in front of a *national* number (one written without a leading ``+`` or ``00``)
            after its leading zeros (trunk prefix) are removed. ``None``: a national number is
            taken to start with its country code already (as the platforms ask).
        gmail_dots: Remove every ``.`` of the local part of ``gmail.com`` / ``googlemail.com``
            addresses.
        source: Where the convention comes from.
    """

    name: str
    version: int
    description: str
    email: str
    phone: str
    other: str
    phone_format: PhoneFormat
    default_country_code: str | None = None
    gmail_dots: bool = False
    source: str = ""

    def rule(self, kind: ValueKind) -> str:
        """The normalization of one kind of value, in words."""
        return {"email": self.email, "phone": self.phone, "other": self.other}[kind]


class UnknownHashProfileError(ConfigError):
    """A ``hash:`` treatment names a profile that does not exist."""


_TRIM_ONLY = "trimmed; nothing else"
_EMAIL = "trimmed and lowercased"
_GMAIL = _EMAIL + "; gmail.com / googlemail.com: every '.' of the local part removed"
_INTL = ("'+' or '00' in front: the digits after it (country code included); otherwise a national "
         "number{cc}; every non-digit removed, leading zeros removed")


def _intl(cc: str | None, plus: bool) -> str:
    national = (f": leading zeros (trunk prefix) removed and country code {cc} put in front" if cc
                else " taken to start with its country code")
    return _INTL.format(cc=national) + ("; written with a leading '+' (E.164)" if plus else "; no '+'")


def _profiles() -> dict[str, HashProfile]:
    raw = HashProfile(
        name="raw_v1", version=1,
        description="Plain SHA-256 of lightly normalized values (our own joins; no ad platform)",
        email=_EMAIL, phone="every character that is not 0-9 removed (leading zeros and country code kept as written)",
        other=_TRIM_ONLY, phone_format="digits")
    out = [raw]
    for cc, suffix, where in ((None, "", ""), ("86", "_cn", "; national numbers are Chinese (+86)")):
        out.append(HashProfile(
            name=f"meta{suffix}_v1", version=1,
            description="Meta / Facebook Custom Audiences: phone as digits with country code, no '+'" + where,
            email=_EMAIL, phone=_intl(cc, plus=False), other=_TRIM_ONLY, phone_format="international_digits",
            default_country_code=cc, source=META_SOURCE))
        out.append(HashProfile(
            name=f"google{suffix}_v1", version=1,
            description="Google Customer Match / enhanced conversions: phone in E.164 ('+' and country code), "
                        "gmail dots removed" + where,
            email=_GMAIL, phone=_intl(cc, plus=True), other=_TRIM_ONLY, phone_format="e164",
            default_country_code=cc, gmail_dots=True, source=GOOGLE_SOURCE))
    return {p.name: p for p in out}


#: Every hashing profile by name (read-only).
PROFILES: Mapping[str, HashProfile] = MappingProxyType(_profiles())
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


def hash_profile(name: str) -> HashProfile:
    """The profile called ``name``; :class:`UnknownHashProfileError` (with a did-you-mean) if none."""
    try:
        return PROFILES[name]
    except KeyError:
        hint = did_you_mean(name, PROFILE_NAMES) or f"known profiles: {', '.join(PROFILE_NAMES)}"
        raise UnknownHashProfileError(f"unknown hashing profile `{name}`: {hint}") from None
