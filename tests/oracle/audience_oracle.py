"""An independent oracle for audiences and scenes (``docs/audiences.md``).

Written from the spec alone; nothing is imported from ``tagfactory``. It reads plain YAML dicts,
evaluates memberships over a pandas profile snapshot, reads uploaded lists itself (csv / txt /
xlsx), runs SQL audiences in DuckDB (Spark SQL transpiled by sqlglot), and recomputes stats,
change records, the audience profile (TGI) and scene assignments.

Decisions where the spec leaves room (the most literal reading was taken):

  Rules
  * A double NaN in the profile is null (pandas cannot tell NaN from null after a Delta read).
  * Numbers compare exactly as Python numbers (int vs float included); a bool is no number.
  * ``in`` / ``not_in`` / ``between`` need a list (non-empty / two items); anything else, and an
    operator outside the spec's table for the tag type, raises ``OracleError`` (a validate error).
  * ``array<string>`` ``contains``: a null array is false; null elements never match; an empty
    array is not null (``is_null`` false).
  * Date values: ISO string, ``datetime.date`` (a ``datetime`` is cut to its date) or
    ``{days_ago: N}``; profile dates may be dates, Timestamps, datetime64 or ISO strings.
  * ``include`` / ``exclude`` of a name that is not among the given (non-draft) audiences raises.

  Lists
  * Trimming is Python ``str.strip()`` (all Unicode whitespace); a blank cell is empty after it.
  * A "blank row" has every cell blank; "the first non-blank row" is the first row with at
    least one non-blank cell (if its chosen cell is blank, ``header: auto`` makes it a header,
    since blank is not a well-formed identifier).
  * ``column`` by name needs a header: the first non-blank row is the header and must contain the
    name (else error); ``header: false`` with a named column is an error. ``header: true`` takes
    the first non-blank row as header. The name / key-name comparison is exact (case-sensitive).
  * ``.txt``: every line (universal newlines: LF, CRLF, CR) is a one-cell row, no splitting at
    commas; ``.csv``: Python ``csv`` (double quotes), delimiter as below. Files are
    decoded as UTF-8 (``utf-8-sig``: a leading BOM is dropped). CSV delimiter: whichever of
    ``, ; TAB |`` occurs most in the first non-blank line (ties: comma) -- added after the spec
    said "detected among , ; tab |".
  * Excel numbers: an integer-valued number (``123.0`` or ``123``) reads as ``"123"`` for both key
    types; other numbers as ``str(x)``; other cell values as ``str(x)``.
  * ``key_type: integer``: well formed = ASCII digits only; the identifier is normalised by
    ``int`` (``"007"`` -> ``"7"``) so it matches the profile key as a string.
  * Duplicates are counted after normalisation, over well-formed identifiers only.
  * ``max_rows`` counts distinct well-formed identifiers; "empty list" = no well-formed
    identifier at all (a list whose identifiers are all unknown to the profile is not an error,
    just an empty audience with ``list_unknown`` = their number).

  SQL
  * The table ``profile`` holds the key and every column of ``tag_types`` present in the frame
    (typed from ``tag_types``; NaN -> NULL); extra tables may be passed as ``sql_tables``.
  * The result is de-duplicated, nulls dropped, keys as strings; it is NOT cut to the profile
    (the spec says so for lists only).

  Stats / changes
  * With a previous snapshot, an audience absent from it has ``previous_size`` 0 (an empty
    audience has no member rows, so the two are indistinguishable). Only today's audiences are
    reported. ``change`` (not part of ``audience_stats``) is ``|size - prev| / prev`` via
    :func:`audience_change`, None when there is no previous or it is 0.

  Profile
  * Population = every profile row. Audience size = number of members; a member missing from the
    profile counts as ``(null)``.
  * Only ``string`` tags are capped at the top 20 (enum and date tags are not); dates are ISO
    strings; ``(other)`` only exists for string tags. Array tags are skipped; an audience absent
    from ``tags`` gets the default (every enum and boolean tag, in ``tag_types`` order).
  * ``tgi = share_in_audience / share_in_population * 100`` (that evaluation order), NaN when the
    population has no user with the value.

  Scenes
  * A held-out or control user still carries the branch of step 1.
  * ``salt`` defaults to the scene name (``str()`` of a YAML number); ``holdout`` / ``control``
    default to 0; a variant ``weight`` defaults to 1. Cumulative normalised weight of variant i =
    ``sum(w_1..w_i) / sum(w)``.
  * Payload: None only when the branch has no ``payload`` (missing / null) and the variant has
    none either; an explicit ``{}`` gives ``"{}"``. Non-JSON YAML values (dates) go through
    ``str``.
  * ``scene_counts`` holds only the non-empty (scene, branch, group, variant) cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import yaml
from sqlglot import transpile


class OracleError(ValueError):
    """A definition or a list the spec calls an error."""


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_definitions(root: Path) -> tuple[list[dict], list[dict]]:
    """(audiences, scenes) from every *.yaml / *.yml under ``root`` (drafts skipped).

    Each dict gets ``_dir`` = the folder of its YAML file. Files are read in sorted path order.
    """
    root = Path(root)
    files = sorted({*root.rglob("*.yaml"), *root.rglob("*.yml")})
    audiences: list[dict] = []
    scenes: list[dict] = []
    for f in files:
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            continue
        for key, out in (("audiences", audiences), ("scenes", scenes)):
            for item in doc.get(key) or []:
                if item.get("lifecycle", "active") == "draft":
                    continue
                d = dict(item)
                d["_dir"] = f.parent
                out.append(d)
    return audiences, scenes


# ---------------------------------------------------------------------------------------------
# Value normalisation
# ---------------------------------------------------------------------------------------------
def _is_null(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (list, tuple, np.ndarray, dict, str)):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _to_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):  # pd.Timestamp included
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, np.datetime64):
        return pd.Timestamp(v).date()
    if isinstance(v, str):
        return dt.date.fromisoformat(v.strip()[:10])
    raise OracleError(f"not a date: {v!r}")


def _norm(v: Any, typ: str) -> Any:
    """A profile cell as a plain Python value (None for null)."""
    if _is_null(v):
        return None
    if typ == "boolean":
        return bool(v)
    if typ == "integer":
        return int(v)
    if typ == "double":
        return float(v)
    if typ in ("string", "enum"):
        return str(v)
    if typ == "date":
        return _to_date(v)
    if typ == "array<string>":
        return [None if _is_null(x) else str(x) for x in v]
    raise OracleError(f"unknown tag type {typ!r}")


def _key_str(v: Any, key_type: str) -> str:
    if key_type == "integer":
        return str(int(v))
    return str(v)


class _Profile:
    """The profile snapshot as Python lists: keys (strings) and normalised tag columns."""

    def __init__(self, df: pd.DataFrame, key: str, key_type: str, tag_types: dict[str, str]):
        if key not in df.columns and df.index.name == key:
            df = df.reset_index()
        if key not in df.columns:
            raise OracleError(f"profile has no key column {key!r}")
        self.df = df
        self.key = key
        self.key_type = key_type
        self.tag_types = dict(tag_types)
        self.keys: list[str] = [_key_str(v, key_type) for v in df[key].tolist()]
        self.key_set = set(self.keys)
        if len(self.key_set) != len(self.keys):
            raise OracleError("profile keys are not unique")
        self._cols: dict[str, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def col(self, tag: str) -> list[Any]:
        if tag not in self._cols:
            if tag not in self.tag_types:
                raise OracleError(f"unknown tag {tag!r}")
            if tag not in self.df.columns:
                raise OracleError(f"profile has no column {tag!r}")
            typ = self.tag_types[tag]
            self._cols[tag] = [_norm(v, typ) for v in self.df[tag].tolist()]
        return self._cols[tag]

    def by_key(self, tag: str) -> dict[str, Any]:
        return dict(zip(self.keys, self.col(tag), strict=True))

    def arrow(self) -> pa.Table:
        """Key + every tag column present, typed from ``tag_types`` (for DuckDB)."""
        arrow_types = {
            "boolean": pa.bool_(),
            "integer": pa.int64(),
            "double": pa.float64(),
            "string": pa.string(),
            "enum": pa.string(),
            "date": pa.date32(),
            "array<string>": pa.list_(pa.string()),
        }
        key_vals: list[Any] = (
            [int(k) for k in self.keys] if self.key_type == "integer" else list(self.keys)
        )
        arrays = {
            self.key: pa.array(key_vals, pa.int64() if self.key_type == "integer" else pa.string())
        }
        for tag, typ in self.tag_types.items():
            if tag in self.df.columns and tag != self.key:
                arrays[tag] = pa.array(self.col(tag), arrow_types[typ])
        return pa.table(arrays)


# ---------------------------------------------------------------------------------------------
# Rule conditions
# ---------------------------------------------------------------------------------------------
OPS: dict[str, set[str]] = {
    "integer": {"=", "!=", ">", ">=", "<", "<=", "between", "in", "not_in"},
    "double": {"=", "!=", ">", ">=", "<", "<=", "between", "in", "not_in"},
    "string": {"=", "!=", "in", "not_in", "contains", "starts_with"},
    "enum": {"=", "!=", "in", "not_in"},
    "boolean": {"=", "!="},
    "date": {"=", "!=", ">", ">=", "<", "<=", "before", "after", "between", "within_last"},
    "array<string>": {"contains"},
}
NULL_OPS = {"is_null", "is_not_null"}
_CMP = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "after": lambda a, b: a > b,
    "before": lambda a, b: a < b,
}


def _num(v: Any) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise OracleError(f"not a number: {v!r}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise OracleError(f"not a string: {v!r}")
    return v


def _date_value(v: Any, d: dt.date) -> dt.date:
    if isinstance(v, dict):
        if set(v) != {"days_ago"}:
            raise OracleError(f"bad date value {v!r}")
        return d - dt.timedelta(days=int(v["days_ago"]))
    if isinstance(v, (dt.date, str)):
        return _to_date(v)
    raise OracleError(f"bad date value {v!r}")


def _list(v: Any, n: int | None = None) -> list:
    if not isinstance(v, list) or not v or (n is not None and len(v) != n):
        raise OracleError(f"bad list value {v!r}")
    return v


def _condition(node: dict, prof: _Profile, d: dt.date) -> np.ndarray:
    tag, op = node["tag"], node.get("op")
    typ = prof.tag_types.get(tag)
    if typ is None:
        raise OracleError(f"unknown tag {tag!r}")
    col = prof.col(tag)
    if op == "is_null":
        return np.array([v is None for v in col], dtype=bool)
    if op == "is_not_null":
        return np.array([v is not None for v in col], dtype=bool)
    if op not in OPS[typ]:
        raise OracleError(f"operator {op!r} is not allowed on {typ} tag {tag!r}")
    value = node.get("value")

    # value -> predicate on a non-null cell
    if typ in ("integer", "double"):
        if op == "between":
            lo, hi = (_num(x) for x in _list(value, 2))
            pred = lambda x: lo <= x <= hi  # noqa: E731
        elif op in ("in", "not_in"):
            vals = [_num(x) for x in _list(value)]
            pred = (lambda x: x in vals) if op == "in" else (lambda x: x not in vals)
        else:
            c, val = _CMP[op], _num(value)
            pred = lambda x: c(x, val)  # noqa: E731
    elif typ in ("string", "enum"):
        if op in ("in", "not_in"):
            svals = [_str(x) for x in _list(value)]
            pred = (lambda x: x in svals) if op == "in" else (lambda x: x not in svals)
        elif op == "contains":
            sval = _str(value)
            pred = lambda x: sval in x  # noqa: E731
        elif op == "starts_with":
            sval = _str(value)
            pred = lambda x: x.startswith(sval)  # noqa: E731
        else:
            c, sval = _CMP[op], _str(value)
            pred = lambda x: c(x, sval)  # noqa: E731
    elif typ == "boolean":
        if not isinstance(value, bool):
            raise OracleError(f"not a boolean: {value!r}")
        bval = value
        pred = (lambda x: x == bval) if op == "=" else (lambda x: x != bval)
    elif typ == "date":
        if op == "within_last":
            n = node.get("days")
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise OracleError(f"within_last needs days >= 1, got {n!r}")
            lo_d, hi_d = d - dt.timedelta(days=n - 1), d
            pred = lambda x: lo_d <= x <= hi_d  # noqa: E731
        elif op == "between":
            lo_d, hi_d = (_date_value(x, d) for x in _list(value, 2))
            pred = lambda x: lo_d <= x <= hi_d  # noqa: E731
        else:
            c, dval = _CMP[op], _date_value(value, d)
            pred = lambda x: c(x, dval)  # noqa: E731
    else:  # array<string> contains
        wanted = [value] if isinstance(value, str) else [_str(x) for x in _list(value)]
        pred = lambda arr: any(w in arr for w in wanted)  # noqa: E731
    return np.array([v is not None and bool(pred(v)) for v in col], dtype=bool)


# ---------------------------------------------------------------------------------------------
# Uploaded lists
# ---------------------------------------------------------------------------------------------
STRING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
INTEGER_ID = re.compile(r"[0-9]+")


@dataclass
class ListRead:
    ids: list[str]  # distinct well-formed identifiers, in file order
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)  # "file:row: ..." for malformed values


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    return str(v).strip()


def _rows(path: Path, sheet: str | None) -> list[tuple[int, list[str]]]:
    """(1-based row number, trimmed cells) of every row of the file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".xlsx":
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                ws = wb[sheet] if sheet is not None else wb.worksheets[0]
                return [
                    (i, [_cell_text(c) for c in row])
                    for i, row in enumerate(ws.iter_rows(values_only=True), start=1)
                ]
            finally:
                wb.close()
        text = path.read_bytes().decode("utf-8-sig")
        if suffix == ".txt":
            lines = io.StringIO(text, newline=None).read().split("\n")  # universal newlines
            return [(i, [line.strip()]) for i, line in enumerate(lines, start=1)]
        if suffix == ".csv":
            first = next((ln for ln in text.splitlines() if ln.strip()), "")
            delimiter = max([",", ";", "\t", "|"], key=lambda d: first.count(d))  # ties: comma first
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            return [(i, [c.strip() for c in row]) for i, row in enumerate(reader, start=1)]
    except OracleError:
        raise
    except Exception as e:  # a file that cannot be read is an error
        raise OracleError(f"{path}: cannot read list: {e}") from e
    raise OracleError(f"{path}: unsupported list file type {suffix!r}")


def _well_formed(value: str, key_type: str) -> str | None:
    """The normalised identifier, or None when malformed."""
    if key_type == "integer":
        return str(int(value)) if INTEGER_ID.fullmatch(value) else None
    return value if STRING_ID.fullmatch(value) else None


def read_list(
    path: Path,
    *,
    column: str | int | None = None,
    sheet: str | None = None,
    header: str | bool = "auto",
    max_rows: int = 1_000_000,
    key: str = "user_id",
    key_type: str = "string",
) -> ListRead:
    """Read an uploaded list file per the spec (see the module docstring for the decisions)."""
    path = Path(path)
    if not path.is_file():
        raise OracleError(f"{path}: list file not found")
    header_mode = {True: "true", False: "false"}.get(header, header)  # type: ignore[arg-type]
    header_mode = str(header_mode).lower()
    if header_mode not in ("auto", "true", "false"):
        raise OracleError(f"bad header option {header!r}")
    rows = [(i, cells) for i, cells in _rows(path, sheet) if any(c != "" for c in cells)]

    if isinstance(column, bool):
        raise OracleError(f"bad column {column!r}")
    if isinstance(column, str):
        if header_mode == "false":
            raise OracleError(f"{path}: column {column!r} by name needs a header")
        if not rows or column not in rows[0][1]:
            raise OracleError(f"{path}: no column {column!r} in the header")
        idx = rows[0][1].index(column)
        rows = rows[1:]
    else:
        idx = 0 if column is None else int(column) - 1
        if idx < 0:
            raise OracleError(f"bad column {column!r}")
        if rows and header_mode == "true":
            rows = rows[1:]
        elif rows and header_mode == "auto":
            first = rows[0][1][idx] if idx < len(rows[0][1]) else ""
            if _well_formed(first, key_type) is None or first == key:
                rows = rows[1:]

    out = ListRead(ids=[])
    seen: set[str] = set()
    for i, cells in rows:
        raw = cells[idx] if idx < len(cells) else ""
        if raw == "":
            continue
        ident = _well_formed(raw, key_type)
        if ident is None:
            out.warnings.append(f"{path.name}:{i}: malformed identifier {raw!r}")
            continue
        if ident in seen:
            out.duplicates += 1
            continue
        seen.add(ident)
        out.ids.append(ident)
    if not out.ids:
        raise OracleError(f"{path}: empty list")
    if len(out.ids) > max_rows:
        raise OracleError(f"{path}: {len(out.ids)} identifiers > max_rows {max_rows}")
    return out


def _read_audience_list(a: dict, key: str, key_type: str) -> ListRead:
    spec = a["list"]
    base = Path(a.get("_dir", "."))
    return read_list(
        base / spec["file"],
        column=spec.get("column"),
        sheet=spec.get("sheet"),
        header=spec.get("header", "auto"),
        max_rows=spec.get("max_rows", 1_000_000),
        key=key,
        key_type=key_type,
    )


def list_unknown(
    audience: dict,
    profile: pd.DataFrame,
    *,
    key: str = "user_id",
    key_type: str = "string",
) -> int:
    """Identifiers of a list audience that are not in the profile (``list_unknown``)."""
    if key not in profile.columns and profile.index.name == key:
        profile = profile.reset_index()
    keys = {_key_str(v, key_type) for v in profile[key].tolist()}
    return sum(1 for i in _read_audience_list(audience, key, key_type).ids if i not in keys)


# ---------------------------------------------------------------------------------------------
# SQL audiences
# ---------------------------------------------------------------------------------------------
_PARAM = re.compile(r"(?<![:\w]):snapshot_date\b")


def spark_sql_to_duckdb(sql: str, snapshot_date: dt.date) -> str:
    sql = _PARAM.sub(f"DATE '{snapshot_date.isoformat()}'", sql)
    out = transpile(sql, read="spark", write="duckdb")
    if len(out) != 1:
        raise OracleError("an SQL audience must be exactly one statement")
    return out[0]


def _sql_members(
    sql: str,
    prof: _Profile,
    d: dt.date,
    sql_tables: dict[str, pd.DataFrame] | None,
) -> set[str]:
    con = duckdb.connect()
    try:
        con.register("profile", prof.arrow())
        for name, frame in (sql_tables or {}).items():
            con.register(name, frame)
        cur = con.execute(spark_sql_to_duckdb(sql, d))
        if cur.description is None or len(cur.description) != 1:
            raise OracleError("an SQL audience must return exactly one column")
        rows = cur.fetchall()
    finally:
        con.close()
    return {_key_str(r[0], prof.key_type) for r in rows if not _is_null(r[0])}


# ---------------------------------------------------------------------------------------------
# Membership
# ---------------------------------------------------------------------------------------------
def _kind(a: dict) -> str:
    kinds = [k for k in ("rule", "list", "sql") if k in a]
    if len(kinds) != 1:
        raise OracleError(f"audience {a.get('name')!r} needs exactly one of rule/list/sql")
    return kinds[0]


def audience_members(
    audiences: list[dict],
    profile: pd.DataFrame,
    snapshot_date: dt.date,
    *,
    key: str = "user_id",
    key_type: str = "string",
    tag_types: dict[str, str],
    sql_tables: dict[str, pd.DataFrame] | None = None,
) -> dict[str, set[str]]:
    """Members (keys as strings) of every audience on ``snapshot_date``."""
    prof = _Profile(profile, key, key_type, tag_types)
    by_name = {a["name"]: a for a in audiences}
    if len(by_name) != len(audiences):
        raise OracleError("duplicate audience names")
    memo: dict[str, set[str]] = {}
    active: list[str] = []

    def members(name: str) -> set[str]:
        if name in memo:
            return memo[name]
        if name in active:
            raise OracleError(f"audience reference cycle: {' -> '.join([*active, name])}")
        if name not in by_name:
            raise OracleError(f"unknown audience {name!r}")
        active.append(name)
        a = by_name[name]
        kind = _kind(a)
        if kind == "rule":
            mask = evaluate(a["rule"])
            result = {k for k, m in zip(prof.keys, mask, strict=True) if m}
        elif kind == "list":
            result = {i for i in _read_audience_list(a, key, key_type).ids if i in prof.key_set}
        else:
            result = _sql_members(a["sql"], prof, snapshot_date, sql_tables)
        active.pop()
        memo[name] = result
        return result

    def evaluate(node: Any) -> np.ndarray:
        if not isinstance(node, dict):
            raise OracleError(f"bad rule node {node!r}")
        if "tag" in node:
            extra = set(node) - {"tag", "op", "value", "days"}
            if extra:
                raise OracleError(f"bad condition keys {sorted(extra)}")
            return _condition(node, prof, snapshot_date)
        if len(node) != 1:
            raise OracleError(f"a rule node needs exactly one key: {node!r}")
        ((op, arg),) = node.items()
        if op in ("all", "any"):
            kids = [evaluate(c) for c in _list(arg)]
            return np.logical_and.reduce(kids) if op == "all" else np.logical_or.reduce(kids)
        if op == "not":
            return ~evaluate(arg)
        if op in ("include", "exclude"):
            m = members(arg)
            hit = np.array([k in m for k in prof.keys], dtype=bool)
            return hit if op == "include" else ~hit
        raise OracleError(f"unknown rule node {op!r}")

    return {a["name"]: set(members(a["name"])) for a in audiences}


# ---------------------------------------------------------------------------------------------
# Stats and changes
# ---------------------------------------------------------------------------------------------
def audience_stats(
    today: dict[str, set[str]], previous: dict[str, set[str]] | None
) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, members in today.items():
        if previous is None:
            out[name] = {
                "size": len(members),
                "previous_size": None,
                "added": len(members),
                "removed": 0,
            }
        else:
            prev = previous.get(name, set())
            out[name] = {
                "size": len(members),
                "previous_size": len(prev),
                "added": len(members - prev),
                "removed": len(prev - members),
            }
    return out


def audience_change(stat: dict) -> float | None:
    """``|size - previous size| / previous size`` (None without a previous, or when it is 0)."""
    prev = stat.get("previous_size")
    if not prev:
        return None
    return abs(stat["size"] - prev) / prev


def audience_changes(
    today: dict[str, set[str]], previous: dict[str, set[str]] | None
) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for name, members in today.items():
        prev = set() if previous is None else previous.get(name, set())
        out |= {(name, k, "entered") for k in members - prev}
        out |= {(name, k, "exited") for k in prev - members}
    return out


# ---------------------------------------------------------------------------------------------
# Audience profile (TGI)
# ---------------------------------------------------------------------------------------------
NULL_LABEL = "(null)"
OTHER_LABEL = "(other)"
PROFILE_COLUMNS = [
    "audience",
    "tag",
    "value",
    "audience_users",
    "share_in_audience",
    "population_users",
    "share_in_population",
    "tgi",
]


def _g(x: float) -> str:
    return f"{x:g}"


def quintile_edges(values: Iterable[float]) -> list[float]:
    """Distinct quantiles 0.2/0.4/0.6/0.8 (pandas linear interpolation) of the non-null values."""
    s = pd.Series([float(v) for v in values if v is not None], dtype="float64")
    if s.empty:
        return []
    return sorted({float(q) for q in s.quantile([0.2, 0.4, 0.6, 0.8]).tolist()})


def bucket_label(x: float, edges: list[float]) -> str:
    if x < edges[0]:
        return f"< {_g(edges[0])}"
    if x >= edges[-1]:
        return f">= {_g(edges[-1])}"
    for lo, hi in zip(edges, edges[1:], strict=False):
        if lo <= x < hi:
            return f"[{_g(lo)}, {_g(hi)})"
    raise AssertionError("unreachable")


def _labeller(typ: str, pop_values: list[Any]):
    if typ in ("integer", "double"):
        edges = quintile_edges(pop_values)
        return lambda v: NULL_LABEL if v is None else bucket_label(float(v), edges)
    if typ == "boolean":
        return lambda v: NULL_LABEL if v is None else ("true" if v else "false")
    if typ == "date":
        return lambda v: NULL_LABEL if v is None else v.isoformat()
    if typ == "enum":
        return lambda v: NULL_LABEL if v is None else str(v)
    if typ == "string":
        counts = Counter(v for v in pop_values if v is not None)
        top = {v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]}
        return lambda v: NULL_LABEL if v is None else (v if v in top else OTHER_LABEL)
    raise OracleError(f"tag type {typ!r} is not profiled")


def default_profile_tags(tag_types: dict[str, str]) -> list[str]:
    return [t for t, typ in tag_types.items() if typ in ("enum", "boolean")]


def audience_profile(
    profile: pd.DataFrame,
    members: dict[str, set[str]],
    tags: dict[str, list[str]],
    *,
    key: str,
    tag_types: dict[str, str],
    key_type: str = "string",
) -> pd.DataFrame:
    prof = _Profile(profile, key, key_type, tag_types)
    n_pop = len(prof)
    labels_cache: dict[str, dict[str, str]] = {}

    def labels(tag: str) -> dict[str, str]:
        if tag not in labels_cache:
            col = prof.col(tag)
            lab = _labeller(tag_types[tag], col)
            labels_cache[tag] = dict(zip(prof.keys, (lab(v) for v in col), strict=True))
        return labels_cache[tag]

    rows: list[dict] = []
    for name in sorted(members):
        mem = members[name]
        size = len(mem)
        tag_list = tags.get(name)
        if tag_list is None:
            tag_list = default_profile_tags(tag_types)
        for tag in tag_list:
            if tag_types[tag] == "array<string>":
                continue
            by_key = labels(tag)
            pop_counts = Counter(by_key.values())
            aud_counts = Counter(by_key.get(k, NULL_LABEL) for k in mem)
            for value, a_users in sorted(aud_counts.items()):
                p_users = pop_counts.get(value, 0)
                sia = a_users / size
                sip = p_users / n_pop if n_pop else float("nan")
                tgi = sia / sip * 100 if p_users else float("nan")
                rows.append(
                    {
                        "audience": name,
                        "tag": tag,
                        "value": value,
                        "audience_users": a_users,
                        "share_in_audience": sia,
                        "population_users": p_users,
                        "share_in_population": sip,
                        "tgi": tgi,
                    }
                )
    df = pd.DataFrame(rows, columns=PROFILE_COLUMNS)
    return df.sort_values(["audience", "tag", "value"], kind="mergesort").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------------------------
def u(salt: str, part: str, key: str) -> float:
    h = hashlib.sha256(f"{salt}:{part}:{key}".encode()).hexdigest()
    return int(h[:15], 16) / 16**15


def _payload(branch_payload: Any, variant_payload: Any) -> str | None:
    if branch_payload is None and variant_payload is None:
        return None
    merged = {**(branch_payload or {}), **(variant_payload or {})}
    return json.dumps(
        merged, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


SCENE_COLUMNS = ["scene", "key", "branch", "group", "variant", "payload"]


def scene_assignments(scenes: list[dict], members: dict[str, set[str]]) -> pd.DataFrame:
    rows: list[dict] = []
    for sc in scenes:
        name = sc["name"]
        salt = sc.get("salt")
        salt = name if salt is None else str(salt)
        holdout = float(sc.get("holdout") or 0)
        branch_of: dict[str, dict] = {}
        for b in sc["branches"]:
            if b["audience"] not in members:
                raise OracleError(f"scene {name!r}: unknown audience {b['audience']!r}")
            for k in members[b["audience"]]:
                branch_of.setdefault(k, b)
        for k in sorted(branch_of):
            b = branch_of[k]
            row = {
                "scene": name,
                "key": k,
                "branch": b["name"],
                "group": None,
                "variant": None,
                "payload": None,
            }
            control = float(b.get("control") or 0)
            if u(salt, "holdout", k) < holdout:
                row["group"] = "holdout"
            else:
                s = u(salt, "split:" + b["name"], k)
                if s < control:
                    row["group"] = "control"
                else:
                    row["group"] = "treatment"
                    variants = b.get("variants") or []
                    vpayload = None
                    if variants:
                        v = (s - control) / (1 - control)
                        weights = [float(x.get("weight", 1)) for x in variants]
                        total = sum(weights)
                        cum = 0.0
                        chosen = variants[-1]
                        for var, w in zip(variants, weights, strict=True):
                            cum += w
                            if cum / total > v:
                                chosen = var
                                break
                        row["variant"] = chosen["name"]
                        vpayload = chosen.get("payload")
                    row["payload"] = _payload(b.get("payload"), vpayload)
            rows.append(row)
    return pd.DataFrame(rows, columns=SCENE_COLUMNS)


def scene_counts(assignments: pd.DataFrame) -> dict[tuple[str, str, str, str | None], int]:
    c: Counter = Counter()
    for r in assignments.itertuples(index=False):
        variant = None if _is_null(r.variant) else r.variant
        c[(r.scene, r.branch, r.group, variant)] += 1
    return dict(c)
