"""The diagnostic codes: one enum, each member with its severity and a one-line meaning.

Codes are stable: tests, CI annotations and docs refer to them. ``Code`` is a ``str`` enum, so a
member prints, compares and serialises (JSON) as its text (``"E101"``). The code tables in the
docs are generated from it::

    python -m tagfactory.compiler.codes --markdown [PREFIX ...]   # print a table (e.g. E7 W7)
    python -m tagfactory.compiler.codes --write docs/tag-language.md docs/audiences.md

``--write`` replaces what stands between ``<!-- codes:begin [PREFIX ...] -->`` and
``<!-- codes:end -->`` in each file; ``tests/unit/test_codes.py`` fails when a table is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    """How bad a diagnostic is: errors block the build, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    """A diagnostic code. ``E...`` codes are errors, ``W...`` codes warnings."""

    severity: Severity
    meaning: str

    def __new__(cls, value: str, meaning: str) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        member.severity = Severity.WARNING if value.startswith("W") else Severity.ERROR
        return member

    # files and YAML
    E001 = "E001", "file cannot be read or is not UTF-8 text"
    E002 = "E002", "YAML syntax error"
    E003 = "E003", "document has the wrong shape"
    E004 = "E004", "duplicate key in a YAML mapping"
    # fields
    E101 = "E101", "unknown field"
    E102 = "E102", "missing required field"
    E103 = "E103", "field has the wrong type or value"
    # names
    E201 = "E201", "duplicate name"
    E202 = "E202", "unknown tag"
    E203 = "E203", "unknown source"
    E204 = "E204", "unknown column"
    E205 = "E205", "unknown entity (of a source, tag, audience or scene)"
    E206 = "E206", "invalid category"
    # types and values
    E301 = "E301", "type mismatch"
    E302 = "E302", "value outside the enum's allowed values"
    E303 = "E303", "invalid window"
    E304 = "E304", "aggregate not valid for this source or column"
    E305 = "E305", ("a tag computed from a pii source column (column lineage) says `pii: false` without a "
                    "`pii_reason`, or a `pii_reason` without `pii: false`")
    E306 = "E306", ("a boolean in arithmetic (`(x > 1) + 1`, `-flag`, `sum(flag)`), or a number as a condition "
                    "(`NOT`, `AND`, `OR`, `CASE WHEN`): Spark refuses both")
    # SQL and expressions
    E401 = "E401", "SQL or expression does not parse"
    E402 = "E402", "SQL is not a single read-only SELECT"
    E403 = "E403", "SQL reads a table that is not a declared source"
    E404 = "E404", "function not allowed"
    E405 = "E405", "SQL result has the wrong shape"
    E406 = "E406", "construct not allowed in definitions (the SQL node allow-list)"
    E407 = "E407", "text Spark's variable substitution would replace (`${...}`)"
    E408 = "E408", "SQL or expression too long, too big or nested too deeply"
    E409 = "E409", "literal out of range, or too large a size for a function that allocates"
    E410 = "E410", "CTE or alias shadows a source, a compiler name or another CTE"
    E411 = "E411", "aggregate, window or generator where it cannot be compiled faithfully"
    E412 = "E412", "`*` in a definition"
    E413 = "E413", "path leaves its root"
    E414 = "E414", "reserved name"
    # dependencies and lifecycle
    E501 = "E501", "dependency cycle"
    E502 = "E502", "depends on a tag (or audience) that is not built"
    E503 = "E503", "removes or renames a tag (or a source column) that other tags or goals still use"
    W501 = "W501", "depends on a deprecated tag (or audience)"
    # quality declarations
    E601 = "E601", "unknown expectation type"
    E602 = "E602", "expectation names an unknown column or has invalid arguments"
    E603 = "E603", "quality check does not fit the value type"
    E604 = "E604", "expectation argument not allowed or of the wrong type"
    # audiences and scenes
    E701 = "E701", "a rule node is malformed (not a mapping, no or several node keys, empty `all`/`any`, unknown key)"
    E702 = "E702", "unknown tag in an audience (or a tag of another entity); `profile_tags` naming an unknown tag"
    E703 = "E703", "`include` / `exclude` / a scene branch names an unknown audience or one of another entity"
    E704 = "E704", "operator unknown or not valid for the tag's type"
    E705 = "E705", "value of the wrong type, missing or superfluous (`between` needs two bounds, `within_last` needs `days`)"
    E706 = "E706", "audience reference cycle (the cycle is printed)"
    E707 = "E707", "not exactly one of `rule`, `list`, `sql`"
    E708 = "E708", "list file unreadable, empty, too large or of an unsupported kind"
    W708 = "W708", "list file rows malformed: skipped"
    E709 = "E709", "a SQL audience does not return exactly the entity key"
    E711 = "E711", "guardrails: `min_size` > `max_size`"
    E712 = "E712", "`profile_tags` names an array tag"
    E721 = "E721", "duplicate branch or variant name in a scene"
    # exports
    E801 = "E801", "an export names an unknown audience or scene, or one of another entity"
    E802 = "E802", "an export column reads an unknown tag, source column or field, or no column is the key"
    E803 = "E803", "an export column reads a pii tag or source column and states no treatment"
    E804 = "E804", "a pii treatment that cannot apply: unknown hashing profile, mask or hash of a non-string"
    E805 = "E805", "a suppression condition with an operator or value that does not fit"
    E806 = "E806", "a destination that cannot hold the export (arrays in CSV, BOM without header, shared Hive table)"
    E807 = "E807", "an export column is pii by lineage (its tag is computed from a pii source column) and states no treatment"
    W805 = "W805", "`keep` on a column that is not pii"
    W807 = "W807", "a deprecated export, or an export reading a deprecated audience or tag"
    # goals and effect analysis
    E901 = "E901", "a scene's `goals` or a goal's `guardrails` name an unknown goal (or the goal itself)"
    E902 = "E902", "metric fields that do not fit the metric type (a conversion with a value, a ratio without denominator)"
    E903 = "E903", "a goal's value expression or CUPED covariate tag is not numeric"
    E904 = "E904", "a statistical setting out of range (alpha, cap_percentile, slice top, cost, tau2, horizon)"
    E905 = "E905", "a slice on a pii tag (declared or by column lineage)"
    E906 = "E906", "a comparison the scene cannot make (no control, no holdout, no variants, unknown branch or variant)"
    E907 = "E907", "a goal source that is a dimension or of another entity; a covariate or slice tag that is a draft, of another entity or of a type that cannot be sliced"


def markdown_table(prefixes: Sequence[str] = ()) -> str:
    """The code table in Markdown: every code, or those starting with one of ``prefixes``."""
    rows = ["| code | severity | meaning |", "|---|---|---|"]
    rows += [f"| {c.value} | {c.severity.value} | {c.meaning.replace('|', '&#124;')} |"
             for c in Code if not prefixes or c.value.startswith(tuple(prefixes))]
    return "\n".join(rows) + "\n"


_BLOCK = re.compile(r"(<!-- codes:begin(?P<prefixes>(?: [EW]\d*)*) -->\n)(?P<table>.*?)(<!-- codes:end -->)", re.S)


def regenerate(text: str) -> str:
    """``text`` with every ``codes:begin`` ... ``codes:end`` block replaced by a fresh table."""
    return _BLOCK.sub(lambda m: m.group(1) + markdown_table(m.group("prefixes").split()) + m.group(4), text)


def main(argv: Sequence[str] | None = None) -> int:
    """``--markdown [PREFIX ...]`` prints a table; ``--write FILE ...`` regenerates the tables in files."""
    parser = argparse.ArgumentParser(prog="python -m tagfactory.compiler.codes", description=main.__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", nargs="*", metavar="PREFIX", help="print the table (codes with these prefixes)")
    group.add_argument("--write", nargs="+", metavar="FILE", help="regenerate the marked tables in these files")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(markdown_table(args.markdown))
        return 0
    for name in args.write:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        if not _BLOCK.search(text):
            parser.error(f"{name} has no <!-- codes:begin --> ... <!-- codes:end --> block")
        path.write_text(regenerate(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
