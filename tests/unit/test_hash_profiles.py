"""Hashing profiles without Spark: the registry, its errors, and the published test vectors.

The vectors (``tests/fixtures/hashing_vectors.json``, and the tables of docs/hashing-profiles.md)
are recomputed here by a reference written independently of the Spark builders, with plain
Python (``str`` methods, ``re``, ``hashlib``); the Spark side is checked against the same file in
tests/integration/test_hashing.py. After a deliberate change of inputs (never of a published
profile's rules: that is a new profile), regenerate both files with::

    PYTHONPATH=. python -m tests.unit.test_hash_profiles --write
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from typing import Any

import pytest

from tagfactory.compiler.base import NAME_PATTERN
from tagfactory.compiler.export_models import ExportColumn, Hash
from tagfactory.compiler.hash_profiles import (
    PROFILE_NAMES,
    PROFILES,
    VALUE_KINDS,
    UnknownHashProfileError,
    hash_profile,
)
from tagfactory.errors import ConfigError
from tests.unit.definitions import REPO

VECTORS = REPO / "tests" / "fixtures" / "hashing_vectors.json"
DOC = REPO / "docs" / "hashing-profiles.md"
START, END = "<!-- vectors:start -->", "<!-- vectors:end -->"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# ---------------------------------------------------------------------------------------------
# The reference: the rules of docs/hashing-profiles.md, written out in plain Python.

_WHITESPACE = " \t\n\x0b\x0c\r\u00a0\u200b\u3000\ufeff"
# name -> (phone style, default country code, gmail dots)
_RULES: dict[str, tuple[str, str | None, bool]] = {
    "raw_v1": ("digits", None, False),
    "meta_v1": ("international", None, False),
    "meta_cn_v1": ("international", "86", False),
    "google_v1": ("plus", None, True),
    "google_cn_v1": ("plus", "86", True),
}


def ref_normalize(profile: str, kind: str, value: str | None) -> str | None:
    if value is None:
        return None
    style, country, gmail = _RULES[profile]
    text = value.strip(_WHITESPACE)
    if kind == "email":
        text = text.lower()
        local, at, domain = text.rpartition("@")
        if gmail and at and domain in ("gmail.com", "googlemail.com"):
            text = local.replace(".", "") + "@" + domain
    elif kind == "phone":
        digits = "".join(ch for ch in text if ch in "0123456789")
        if style != "digits":
            written_international = re.sub(r"[^0-9+]", "", text).startswith(("+", "00"))
            digits = digits.lstrip("0")
            if digits and country and not written_international:
                digits = country + digits
            if digits and style == "plus":
                digits = "+" + digits
        text = digits
    return text or None


def ref_sha256(normalized: str | None) -> str | None:
    return None if normalized is None else hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def ref_mask(kind: str, value: str | None) -> str | None:
    text = None if value is None else value.strip(_WHITESPACE)
    if not text:
        return None
    if kind == "email":
        local, at, domain = text.rpartition("@")
        if at and local and domain:
            return text[0] + "***@" + domain
    return "*" * len(text) if len(text) <= 4 else "*" * (len(text) - 4) + text[-4:]


# ---------------------------------------------------------------------------------------------
# The inputs. Every profile gets every input of every kind.

INPUTS: dict[str, list[str | None]] = {
    "email": [
        "john.doe@example.com",
        "  John.Doe@Example.COM  ",
        "\tjane+promo@Example.org\n",
        "J.O.H.N.Doe+ads@Gmail.com",
        "first.last@googlemail.com",
        "first.last@gmail.com.cn",
        "zhangwei0042@example.com",
        "\u3000ÉLODIE@Exämple.COM\u00a0",
        "张伟@例子.中国",
        "",
        "   ",
        None,
    ],
    "phone": [
        "+1 (650) 555-1212",
        "1-650-555-1212",
        "13812345678",
        "+86 138-1234-5678",
        "0086 138 1234 5678",
        "(010) 6552-9988",
        "tel: +86 13800138000 ",
        "\U0001F4DE 138\u00a00013\u00a08000",
        "000",
        "n/a",
        "",
        None,
    ],
    "other": [
        "u0000042",
        "  U0000042 ",
        "abc",
        "",
        None,
    ],
}
MASK_INPUTS: dict[str, list[str | None]] = {
    "email": ["john.doe@example.com", "  J@Example.org ", "张伟@例子.中国", "a@b@example.com",
              "@example.com", "no-at-sign", "", None],
    "phone": ["+86 138 0013 8000", "13812345678", "1234", "12345", " 12 ", "", None],
    "other": ["u0000042", "ab", "王小明", "", None],
}
#: Vectors published by others, reproduced by our profiles.
PUBLISHED = [
    {"profile": "raw_v1", "kind": "other", "input": "abc",
     "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
     "source": "NIST FIPS 180-2, appendix B.1 (SHA-256 of 'abc')"},
]


def build_vectors() -> dict[str, Any]:
    """The whole vectors file, computed by the reference."""
    vectors = []
    for name in PROFILE_NAMES:
        for kind, inputs in INPUTS.items():
            for value in inputs:
                normalized = ref_normalize(name, kind, value)
                vectors.append({"profile": name, "kind": kind, "input": value, "normalized": normalized,
                                "sha256": ref_sha256(normalized)})
    masks = [{"kind": kind, "input": value, "masked": ref_mask(kind, value)}
             for kind, inputs in MASK_INPUTS.items() for value in inputs]
    return {
        "about": "Test vectors of the hashing profiles and the mask treatment (docs/hashing-profiles.md). "
                 "sha256 is the lowercase hex SHA-256 of the UTF-8 bytes of normalized; null means null.",
        "trim_characters": [f"U+{ord(c):04X}" for c in _WHITESPACE],
        "profiles": {n: {"version": PROFILES[n].version, "description": PROFILES[n].description}
                     for n in PROFILE_NAMES},
        "vectors": vectors,
        "mask": masks,
        "published": PUBLISHED,
    }


def _cell(value: str | None) -> str:
    """A value as a JSON string in backticks, invisible characters (U+3000 ...) escaped; null."""
    if value is None:
        return "null"
    text = json.dumps(value, ensure_ascii=False)
    return "`" + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text) + "`"


def _hex(digest: str | None) -> str:
    return "null" if digest is None else f"`{digest}`"


def doc_tables(data: dict[str, Any]) -> str:
    """The vector tables of docs/hashing-profiles.md (between the markers)."""
    out: list[str] = []
    for name in PROFILE_NAMES:
        out += [f"### `{name}`", "", "| kind | input | normalized | SHA-256 |", "|---|---|---|---|"]
        out += [f"| {v['kind']} | {_cell(v['input'])} | {_cell(v['normalized'])} | {_hex(v['sha256'])} |"
                for v in data["vectors"] if v["profile"] == name]
        out.append("")
    out += ["### `mask`", "", "| kind | input | masked |", "|---|---|---|"]
    out += [f"| {m['kind']} | {_cell(m['input'])} | {_cell(m['masked'])} |" for m in data["mask"]]
    return "\n".join(out) + "\n"


def _doc_section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# The registry.


def test_the_registry_holds_the_named_versioned_profiles() -> None:
    assert {"raw_v1", "meta_v1", "google_v1", "meta_cn_v1", "google_cn_v1"} <= set(PROFILE_NAMES)
    for name, profile in PROFILES.items():
        assert profile.name == name and re.match(NAME_PATTERN, name)
        assert name.endswith(f"_v{profile.version}")
        assert profile.description and all(profile.rule(kind) for kind in VALUE_KINDS)
    assert PROFILES["raw_v1"].phone_format == "digits"
    assert PROFILES["meta_v1"].phone_format == "international_digits" and not PROFILES["meta_v1"].gmail_dots
    assert PROFILES["google_v1"].phone_format == "e164" and PROFILES["google_v1"].gmail_dots
    assert PROFILES["meta_cn_v1"].default_country_code == PROFILES["google_cn_v1"].default_country_code == "86"
    assert PROFILES["meta_v1"].default_country_code is None and PROFILES["google_v1"].default_country_code is None
    assert "developers.google.com" in PROFILES["google_v1"].source
    assert "developers.facebook.com" in PROFILES["meta_v1"].source


def test_the_reference_rules_cover_every_profile() -> None:
    assert set(_RULES) == set(PROFILE_NAMES), "a new profile needs its rules in the reference (and vectors)"
    for name, (style, country, gmail) in _RULES.items():
        meta = PROFILES[name]
        assert (meta.default_country_code, meta.gmail_dots) == (country, gmail)
        assert {"digits": "digits", "international": "international_digits", "plus": "e164"}[style] == meta.phone_format


def test_the_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        PROFILES["mine_v1"] = PROFILES["raw_v1"]  # type: ignore[index]


@pytest.mark.parametrize(("name", "hint"), [("meta_v2", "meta_v1"), ("gogle_v1", "google_v1"), ("raw", "raw_v1")])
def test_an_unknown_profile_is_a_config_error_with_did_you_mean(name: str, hint: str) -> None:
    with pytest.raises(UnknownHashProfileError) as caught:
        hash_profile(name)
    assert isinstance(caught.value, ConfigError)
    assert f"unknown hashing profile `{name}`" in str(caught.value)
    assert f"did you mean `{hint}`?" in str(caught.value)


def test_a_far_off_name_lists_the_profiles() -> None:
    with pytest.raises(UnknownHashProfileError, match="known profiles: raw_v1, meta_v1"):
        hash_profile("sha512")


def test_every_profile_name_is_a_valid_hash_treatment() -> None:
    for name in PROFILE_NAMES:
        column = ExportColumn.model_validate({"name": "email_hash", "from": "users.email", "pii": {"hash": name}})
        assert isinstance(column.pii, Hash) and column.pii.hash == name


# ---------------------------------------------------------------------------------------------
# The vectors.


def test_the_vectors_file_is_what_the_reference_computes() -> None:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert data == build_vectors(), "regenerate: PYTHONPATH=. python -m tests.unit.test_hash_profiles --write"


def test_the_vectors_cover_every_profile_and_kind_with_nulls_and_no_empty_hash() -> None:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    seen = {(v["profile"], v["kind"]) for v in data["vectors"]}
    assert seen == {(p, k) for p in PROFILE_NAMES for k in VALUE_KINDS}
    for vector in data["vectors"]:
        assert (vector["normalized"] is None) == (vector["sha256"] is None)
        assert vector["sha256"] != EMPTY_SHA256 and vector["normalized"] != ""
        if vector["sha256"] is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", vector["sha256"])
    assert all(any(v["input"] is None and v["profile"] == p for v in data["vectors"]) for p in PROFILE_NAMES)
    assert {m["kind"] for m in data["mask"]} == set(VALUE_KINDS)


def test_the_conventions_differ_where_they_should() -> None:
    def normalized(profile: str, kind: str, value: str) -> str | None:
        return ref_normalize(profile, kind, value)

    assert normalized("meta_v1", "phone", "+1 (650) 555-1212") == "16505551212"
    assert normalized("google_v1", "phone", "+1 (650) 555-1212") == "+16505551212"
    assert normalized("raw_v1", "phone", "+1 (650) 555-1212") == "16505551212"
    # the demo shop's Chinese mobile numbers have no country code
    assert normalized("meta_cn_v1", "phone", "13812345678") == "8613812345678"
    assert normalized("google_cn_v1", "phone", "13812345678") == "+8613812345678"
    assert normalized("google_cn_v1", "phone", "+86 138-1234-5678") == "+8613812345678"
    assert normalized("google_v1", "email", "J.O.H.N.Doe+ads@Gmail.com") == "johndoe+ads@gmail.com"
    assert normalized("meta_v1", "email", "J.O.H.N.Doe+ads@Gmail.com") == "j.o.h.n.doe+ads@gmail.com"


def test_the_published_vectors_are_reproduced() -> None:
    for item in PUBLISHED:
        assert ref_sha256(ref_normalize(item["profile"], item["kind"], item["input"])) == item["sha256"]
        assert item["sha256"] == hashlib.sha256(item["input"].encode()).hexdigest()


def test_the_mask_reference() -> None:
    assert ref_mask("email", "john.doe@example.com") == "j***@example.com"
    assert ref_mask("phone", "+86 138 0013 8000") == "*************8000"
    assert ref_mask("other", "1234") == "****"
    assert ref_mask("other", " ") is None and ref_mask("email", None) is None


def test_the_doc_publishes_the_same_vectors() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert _doc_section(text) == doc_tables(build_vectors()), \
        "regenerate: PYTHONPATH=. python -m tests.unit.test_hash_profiles --write"
    for name in PROFILE_NAMES:
        assert f"`{name}`" in text
    assert "tests/fixtures/hashing_vectors.json" in text


def _write() -> None:
    data = build_vectors()
    VECTORS.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + START + "\n" + doc_tables(data) + END + tail, encoding="utf-8")
    print(f"wrote {VECTORS.relative_to(REPO)} ({len(data['vectors'])} vectors, {len(data['mask'])} masks) "
          f"and the tables of {DOC.relative_to(REPO)}")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write()
