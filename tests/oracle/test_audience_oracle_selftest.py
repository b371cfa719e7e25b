"""Self-test of the audience / scene oracle on tiny hand-made profiles with hand-computed answers.

Snapshot D = 2024-03-31, so {days_ago: 7} = 2024-03-24 and within_last 7 = 2024-03-25..2024-03-31.

The rule profile (six users), written out so every expected set below can be checked by eye:

  key | n_int | x_dbl | s_str      | e_enum   | b_bool | d_date     | arr
  u1  | 0     | 1.5   | "Shanghai" | gold     | true   | 2024-03-31 | [a, b]
  u2  | 3     | 2.0   | "shenzhen" | silver   | false  | 2024-03-25 | [c]
  u3  | 5     | null  | "Beijing"  | null     | null   | null       | null
  u4  | null  | 10.0  | null       | gold     | true   | 2024-03-24 | []
  u5  | 10    | -1.0  | "Shang"    | none     | false  | 2024-04-01 | [b, c]
  u6  | 3     | 2.5   | ""         | platinum | true   | 2023-12-31 | [a]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from . import audience_oracle as ao

D = dt.date(2024, 3, 31)
KEYS = ["u1", "u2", "u3", "u4", "u5", "u6"]
TAG_TYPES = {
    "n_int": "integer",
    "x_dbl": "double",
    "s_str": "string",
    "e_enum": "enum",
    "b_bool": "boolean",
    "d_date": "date",
    "arr": "array<string>",
}
DATES = [
    dt.date(2024, 3, 31),
    dt.date(2024, 3, 25),
    None,
    dt.date(2024, 3, 24),
    dt.date(2024, 4, 1),
    dt.date(2023, 12, 31),
]
ARRAYS = [["a", "b"], ["c"], None, [], ["b", "c"], ["a"]]


def _profile_pyarrow_like() -> pd.DataFrame:
    """As pyarrow -> pandas gives it: int with null -> float64/NaN, dates as date objects,
    arrays as numpy arrays, booleans with null as object."""
    return pd.DataFrame(
        {
            "user_id": KEYS,
            "n_int": [0.0, 3.0, 5.0, np.nan, 10.0, 3.0],
            "x_dbl": [1.5, 2.0, np.nan, 10.0, -1.0, 2.5],
            "s_str": ["Shanghai", "shenzhen", "Beijing", None, "Shang", ""],
            "e_enum": ["gold", "silver", None, "gold", "none", "platinum"],
            "b_bool": [True, False, None, True, False, True],
            "d_date": DATES,
            "arr": [None if a is None else np.array(a, dtype=object) for a in ARRAYS],
        }
    )


def _profile_pandas_nullable() -> pd.DataFrame:
    """Nullable pandas dtypes: Int64/pd.NA, Float64, boolean, Timestamps/NaT, list arrays,
    key in the index."""
    df = pd.DataFrame(
        {
            "n_int": pd.array([0, 3, 5, None, 10, 3], dtype="Int64"),
            "x_dbl": pd.array([1.5, 2.0, None, 10.0, -1.0, 2.5], dtype="Float64"),
            "s_str": pd.array(
                ["Shanghai", "shenzhen", "Beijing", None, "Shang", ""], dtype="string"
            ),
            "e_enum": ["gold", "silver", pd.NA, "gold", "none", "platinum"],
            "b_bool": pd.array([True, False, None, True, False, True], dtype="boolean"),
            "d_date": pd.to_datetime([d.isoformat() if d else None for d in DATES]),
            "arr": ARRAYS,
        },
        index=pd.Index(KEYS, name="user_id"),
    )
    return df


@pytest.fixture(params=["pyarrow_like", "pandas_nullable"])
def profile(request: pytest.FixtureRequest) -> pd.DataFrame:
    if request.param == "pyarrow_like":
        return _profile_pyarrow_like()
    return _profile_pandas_nullable()


def members_of(rule: dict, profile: pd.DataFrame, extra: list[dict] | None = None) -> set[str]:
    auds = [{"name": "t", "rule": rule}, *(extra or [])]
    return ao.audience_members(auds, profile, D, tag_types=TAG_TYPES)["t"]


def cond(tag: str, op: str, value: object = None, **kw: object) -> dict:
    node: dict = {"tag": tag, "op": op, **kw}
    if value is not None:
        node["value"] = value
    return node


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------
CASES = [
    # integer: [0, 3, 5, null, 10, 3]
    (cond("n_int", "=", 3), {"u2", "u6"}),
    (cond("n_int", "!=", 3), {"u1", "u3", "u5"}),
    (cond("n_int", ">", 3), {"u3", "u5"}),
    (cond("n_int", ">=", 3), {"u2", "u3", "u5", "u6"}),
    (cond("n_int", "<", 3), {"u1"}),
    (cond("n_int", "<=", 3), {"u1", "u2", "u6"}),
    (cond("n_int", ">", 2.5), {"u2", "u3", "u5", "u6"}),
    (cond("n_int", "between", [3, 5]), {"u2", "u3", "u6"}),
    (cond("n_int", "in", [0, 10]), {"u1", "u5"}),
    (cond("n_int", "not_in", [0, 10]), {"u2", "u3", "u6"}),
    (cond("n_int", "is_null"), {"u4"}),
    (cond("n_int", "is_not_null"), {"u1", "u2", "u3", "u5", "u6"}),
    # double: [1.5, 2.0, null, 10.0, -1.0, 2.5]
    (cond("x_dbl", "=", 2), {"u2"}),
    (cond("x_dbl", "!=", 2), {"u1", "u4", "u5", "u6"}),
    (cond("x_dbl", ">", 2), {"u4", "u6"}),
    (cond("x_dbl", ">=", 2), {"u2", "u4", "u6"}),
    (cond("x_dbl", "<", 2), {"u1", "u5"}),
    (cond("x_dbl", "<=", 1.5), {"u1", "u5"}),
    (cond("x_dbl", "between", [1.5, 2.5]), {"u1", "u2", "u6"}),
    (cond("x_dbl", "in", [1.5, 10]), {"u1", "u4"}),
    (cond("x_dbl", "not_in", [1.5, 10]), {"u2", "u5", "u6"}),
    (cond("x_dbl", "is_null"), {"u3"}),
    (cond("x_dbl", "is_not_null"), {"u1", "u2", "u4", "u5", "u6"}),
    # string: ["Shanghai", "shenzhen", "Beijing", null, "Shang", ""]
    (cond("s_str", "=", "Shang"), {"u5"}),
    (cond("s_str", "!=", "Shang"), {"u1", "u2", "u3", "u6"}),
    (cond("s_str", "in", ["Beijing", "shenzhen"]), {"u2", "u3"}),
    (cond("s_str", "not_in", ["Beijing", "shenzhen"]), {"u1", "u5", "u6"}),
    (cond("s_str", "contains", "h"), {"u1", "u2", "u5"}),
    (cond("s_str", "contains", "hang"), {"u1", "u5"}),
    (cond("s_str", "starts_with", "Sh"), {"u1", "u5"}),
    (cond("s_str", "starts_with", "s"), {"u2"}),
    (cond("s_str", "is_null"), {"u4"}),
    (cond("s_str", "is_not_null"), {"u1", "u2", "u3", "u5", "u6"}),
    # enum: [gold, silver, null, gold, none, platinum]
    (cond("e_enum", "=", "gold"), {"u1", "u4"}),
    (cond("e_enum", "!=", "gold"), {"u2", "u5", "u6"}),
    (cond("e_enum", "in", ["silver", "platinum"]), {"u2", "u6"}),
    (cond("e_enum", "not_in", ["silver", "platinum"]), {"u1", "u4", "u5"}),
    (cond("e_enum", "is_null"), {"u3"}),
    (cond("e_enum", "is_not_null"), {"u1", "u2", "u4", "u5", "u6"}),
    # boolean: [T, F, null, T, F, T]
    (cond("b_bool", "=", True), {"u1", "u4", "u6"}),
    (cond("b_bool", "=", False), {"u2", "u5"}),
    (cond("b_bool", "!=", True), {"u2", "u5"}),
    (cond("b_bool", "!=", False), {"u1", "u4", "u6"}),
    (cond("b_bool", "is_null"), {"u3"}),
    (cond("b_bool", "is_not_null"), {"u1", "u2", "u4", "u5", "u6"}),
    # date: [03-31, 03-25, null, 03-24, 04-01, 2023-12-31]
    (cond("d_date", "=", "2024-03-25"), {"u2"}),
    (cond("d_date", "=", dt.date(2024, 3, 25)), {"u2"}),
    (cond("d_date", "!=", "2024-03-25"), {"u1", "u4", "u5", "u6"}),
    (cond("d_date", ">", {"days_ago": 7}), {"u1", "u2", "u5"}),
    (cond("d_date", ">=", {"days_ago": 7}), {"u1", "u2", "u4", "u5"}),
    (cond("d_date", "<", "2024-03-25"), {"u4", "u6"}),
    (cond("d_date", "<=", "2024-03-25"), {"u2", "u4", "u6"}),
    (cond("d_date", "before", dt.date(2024, 1, 1)), {"u6"}),
    (cond("d_date", "after", "2024-03-31"), {"u5"}),
    (cond("d_date", "between", ["2024-01-01", {"days_ago": 0}]), {"u1", "u2", "u4"}),
    (cond("d_date", "within_last", days=7), {"u1", "u2"}),
    (cond("d_date", "within_last", days=8), {"u1", "u2", "u4"}),
    (cond("d_date", "within_last", days=1), {"u1"}),
    (cond("d_date", "is_null"), {"u3"}),
    (cond("d_date", "is_not_null"), {"u1", "u2", "u4", "u5", "u6"}),
    # array<string>: [[a, b], [c], null, [], [b, c], [a]]
    (cond("arr", "contains", "a"), {"u1", "u6"}),
    (cond("arr", "contains", ["a", "c"]), {"u1", "u2", "u5", "u6"}),
    (cond("arr", "contains", ["z"]), set()),
    (cond("arr", "is_null"), {"u3"}),
    (cond("arr", "is_not_null"), {"u1", "u2", "u4", "u5", "u6"}),
]


@pytest.mark.parametrize(
    ("rule", "expected"), CASES, ids=[f"{r['tag']}-{r['op']}-{i}" for i, (r, _) in enumerate(CASES)]
)
def test_operator(profile: pd.DataFrame, rule: dict, expected: set[str]) -> None:
    assert members_of(rule, profile) == expected


@pytest.mark.parametrize(
    "rule",
    [
        cond("n_int", "contains", "3"),  # contains on an integer tag
        cond("e_enum", "contains", "gol"),  # contains is not an enum operator
        cond("n_int", "=", "3"),  # a string value for an integer tag
        cond("n_int", "in", []),  # empty list
        cond("n_int", "between", [1]),
        cond("b_bool", "=", "true"),
        cond("d_date", "within_last", days=0),
        cond("nope", "is_null"),
        {"all": []},
        {"all": [cond("n_int", "=", 3)], "any": [cond("n_int", "=", 3)]},
        {"include": "missing_audience"},
    ],
)
def test_invalid_rules_raise(profile: pd.DataFrame, rule: dict) -> None:
    with pytest.raises(ao.OracleError):
        members_of(rule, profile)


# ---------------------------------------------------------------------------------------------
# Logic, nesting and references
# ---------------------------------------------------------------------------------------------
def test_not_two_valued(profile: pd.DataFrame) -> None:
    # n_int > 0 holds for u2 u3 u5 u6; u1 (0) and u4 (null) fail it, so `not` keeps both.
    assert members_of({"not": cond("n_int", ">", 0)}, profile) == {"u1", "u4"}
    # `not` of != : != is false on null, so u4 is in the negation.
    assert members_of({"not": cond("n_int", "!=", 3)}, profile) == {"u2", "u4", "u6"}
    assert members_of({"not": {"not": cond("b_bool", "=", True)}}, profile) == {"u1", "u4", "u6"}
    assert members_of({"not": cond("n_int", "is_null")}, profile) == {"u1", "u2", "u3", "u5", "u6"}


def test_nested_all_any_not(profile: pd.DataFrame) -> None:
    rule = {
        "all": [
            cond("e_enum", "in", ["gold", "platinum"]),
            cond("b_bool", "=", True),
        ]
    }
    assert members_of(rule, profile) == {"u1", "u4", "u6"}
    # any: n_int >= 5 -> u3 u5; starts_with Sh -> u1 u5  => {u1, u3, u5}
    # not x_dbl < 0 -> everyone but u5                      => {u1, u3}
    rule = {
        "all": [
            {"any": [cond("n_int", ">=", 5), cond("s_str", "starts_with", "Sh")]},
            {"not": cond("x_dbl", "<", 0)},
        ]
    }
    assert members_of(rule, profile) == {"u1", "u3"}
    # deeper: any[ all[ n_int = 3, not[ b_bool = false ] ] -> u6, arr contains c -> u2 u5 ]
    rule = {
        "any": [
            {"all": [cond("n_int", "=", 3), {"not": cond("b_bool", "=", False)}]},
            cond("arr", "contains", "c"),
        ]
    }
    assert members_of(rule, profile) == {"u2", "u5", "u6"}


def test_include_exclude_chain(profile: pd.DataFrame) -> None:
    auds = [
        # listed before the audiences it depends on
        {"name": "d", "rule": {"exclude": "c"}},
        {"name": "c", "rule": {"all": [{"include": "b"}, {"exclude": "a"}]}},
        {"name": "b", "rule": {"any": [{"include": "a"}, cond("n_int", "=", 10)]}},
        {"name": "a", "rule": cond("e_enum", "=", "gold")},
    ]
    got = ao.audience_members(auds, profile, D, tag_types=TAG_TYPES)
    assert got == {
        "a": {"u1", "u4"},
        "b": {"u1", "u4", "u5"},
        "c": {"u5"},
        "d": {"u1", "u2", "u3", "u4", "u6"},
    }


def test_reference_cycle_raises(profile: pd.DataFrame) -> None:
    auds = [
        {"name": "a", "rule": {"include": "b"}},
        {"name": "b", "rule": {"any": [{"exclude": "a"}, cond("n_int", "=", 3)]}},
    ]
    with pytest.raises(ao.OracleError, match="cycle"):
        ao.audience_members(auds, profile, D, tag_types=TAG_TYPES)


def test_reference_through_list_audience(profile: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "l.txt").write_text("user_id\nu2\nu3\nu99\n", encoding="utf-8")
    auds = [
        {"name": "listed", "list": {"file": "lists/l.txt"}, "_dir": tmp_path},
        {"name": "r", "rule": {"all": [{"include": "listed"}, cond("b_bool", "=", False)]}},
        {"name": "r2", "rule": {"exclude": "listed"}},
    ]
    got = ao.audience_members(auds, profile, D, tag_types=TAG_TYPES)
    assert got == {"listed": {"u2", "u3"}, "r": {"u2"}, "r2": {"u1", "u4", "u5", "u6"}}
    assert ao.list_unknown(auds[0], profile) == 1


def test_sql_audience(profile: pd.DataFrame) -> None:
    auds = [
        {
            "name": "s1",
            # n_int >= 3: u2 u3 u5 u6; d_date >= 2024-03-24: u1 u2 u4 u5
            "sql": "SELECT user_id FROM profile\n"
            "WHERE n_int >= 3 AND d_date >= date_sub(:snapshot_date, 7)",
        },
        {"name": "s2", "sql": "SELECT user_id FROM profile WHERE array_contains(arr, 'a')"},
        {"name": "s3", "sql": "SELECT DISTINCT user_id FROM profile WHERE x_dbl IS NULL"},
        {
            "name": "r",
            "rule": {"all": [{"include": "s1"}, {"exclude": "s2"}, cond("s_str", "=", "Shang")]},
        },
    ]
    got = ao.audience_members(auds, profile, D, tag_types=TAG_TYPES)
    assert got == {"s1": {"u2", "u5"}, "s2": {"u1", "u6"}, "s3": {"u3"}, "r": {"u5"}}
    assert ao.spark_sql_to_duckdb("SELECT 1 WHERE x = :snapshot_date", D).count("2024-03-31") == 1


def test_sql_audience_must_return_one_column(profile: pd.DataFrame) -> None:
    auds = [{"name": "s", "sql": "SELECT user_id, n_int FROM profile"}]
    with pytest.raises(ao.OracleError):
        ao.audience_members(auds, profile, D, tag_types=TAG_TYPES)


def test_integer_keys_returned_as_strings() -> None:
    prof = pd.DataFrame({"uid": [7, 12, 30], "n": [1.0, np.nan, 3.0]})
    auds = [
        {"name": "r", "rule": cond("n", "is_not_null")},
        {"name": "s", "sql": "SELECT uid FROM profile WHERE uid > 10"},
    ]
    got = ao.audience_members(
        auds, prof, D, key="uid", key_type="integer", tag_types={"n": "integer"}
    )
    assert got == {"r": {"7", "30"}, "s": {"12", "30"}}


def test_load_definitions_skips_drafts(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(
        "audiences:\n"
        "  - {name: x, rule: {tag: n, op: '=', value: 1}}\n"
        "  - {name: y, lifecycle: draft, sql: 'SELECT 1'}\n"
        "tags: []\n",
        encoding="utf-8",
    )
    (tmp_path / "sub" / "b.yml").write_text(
        "scenes:\n  - {name: s, branches: [{name: b, audience: x}]}\n"
        "audiences:\n  - {name: z, lifecycle: deprecated, list: {file: l.csv}}\n",
        encoding="utf-8",
    )
    auds, scenes = ao.load_definitions(tmp_path)
    assert [(a["name"], a["_dir"]) for a in auds] == [("x", tmp_path), ("z", tmp_path / "sub")]
    assert [(s["name"], s["_dir"]) for s in scenes] == [("s", tmp_path / "sub")]


# ---------------------------------------------------------------------------------------------
# Uploaded lists
# ---------------------------------------------------------------------------------------------
def test_csv_bom_blank_header_duplicates(tmp_path: Path) -> None:
    f = tmp_path / "l.csv"
    # line: 1 header | 2 u1 | 3 blank | 4 " u2 " | 5 u1 dup | 6 malformed | 7 blank cell | 8 u99
    f.write_bytes(
        "\ufeffuser_id,name\r\nu1,Ann\r\n\r\n  u2 ,Bob\r\nu1,Ann again\r\n"
        "bad id!,X\r\n,empty\r\nu99,Z\r\n".encode()
    )
    r = ao.read_list(f)
    assert r.ids == ["u1", "u2", "u99"]
    assert r.duplicates == 1
    assert r.warnings == ["l.csv:6: malformed identifier 'bad id!'"]
    prof = pd.DataFrame({"user_id": ["u1", "u2", "u3"]})
    auds = [{"name": "l", "list": {"file": "l.csv"}, "_dir": tmp_path}]
    assert ao.audience_members(auds, prof, D, tag_types={}) == {"l": {"u1", "u2"}}
    assert ao.list_unknown(auds[0], prof) == 1


def test_header_auto_detection(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("\n\nu3\nu4\n\n", encoding="utf-8")  # first non-blank row is an identifier
    assert ao.read_list(f).ids == ["u3", "u4"]
    f.write_text("ID\nu1\n", encoding="utf-8")  # "ID" is well formed and not the key name
    assert ao.read_list(f).ids == ["ID", "u1"]
    f.write_text("user id\nu1\n", encoding="utf-8")  # not well formed -> header
    assert ao.read_list(f).ids == ["u1"]
    f.write_text("ID\nu1\n", encoding="utf-8")
    assert ao.read_list(f, header=True).ids == ["u1"]
    f.write_text("user_id\nu1\n", encoding="utf-8")
    assert ao.read_list(f, header=False).ids == ["user_id", "u1"]
    f.write_bytes(b"\xef\xbb\xbfu1\r\nu2\ru3\n")  # BOM, CRLF / CR / LF line ends
    assert ao.read_list(f).ids == ["u1", "u2", "u3"]


def test_csv_column_by_name_and_number(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text("name,uid\nAnn,u5\nBob,u6\nCy,\n", encoding="utf-8")
    assert ao.read_list(f, column="uid").ids == ["u5", "u6"]
    assert ao.read_list(f, column=2, header=True).ids == ["u5", "u6"]
    # header auto + column 2: "uid" is well formed and is not "user_id" -> it is data
    assert ao.read_list(f, column=2).ids == ["uid", "u5", "u6"]
    # header auto + column 2 named like the column option -> header
    f.write_text("name,user_id\nAnn,u5\n", encoding="utf-8")
    assert ao.read_list(f, column=2).ids == ["u5"]
    with pytest.raises(ao.OracleError):
        ao.read_list(f, column="uid")
    with pytest.raises(ao.OracleError):
        ao.read_list(f, column="user_id", header=False)


def test_integer_key_list(tmp_path: Path) -> None:
    f = tmp_path / "i.csv"
    f.write_text("id\n007\n12\n12.5\n-3\n12\n", encoding="utf-8")
    r = ao.read_list(f, key="id", key_type="integer")
    assert r.ids == ["7", "12"]
    assert r.duplicates == 1
    assert r.warnings == [
        "i.csv:4: malformed identifier '12.5'",
        "i.csv:5: malformed identifier '-3'",
    ]


def test_xlsx_sheet_and_column(tmp_path: Path) -> None:
    f = tmp_path / "vips.xlsx"
    wb = openpyxl.Workbook()
    first = wb.active
    first.title = "Other"
    first.append(["zz1"])
    ws = wb.create_sheet("VIPs")
    for row in [
        ["name", "user_id"],
        ["Ann", "u1"],
        [None, None],
        ["Bob", " u6 "],
        ["Cy", "u1"],
        ["Dee", None],
        ["Eve", "no way"],
    ]:
        ws.append(row)
    nums = wb.create_sheet("Numbers")
    for row in [["id"], [123], [456.0], ["789"], [1.5]]:
        nums.append(row)
    wb.save(f)

    r = ao.read_list(f, column="user_id", sheet="VIPs")
    assert r.ids == ["u1", "u6"]
    assert r.duplicates == 1
    assert r.warnings == ["vips.xlsx:7: malformed identifier 'no way'"]
    assert ao.read_list(f).ids == ["zz1"]  # default: first sheet, first column
    r = ao.read_list(f, sheet="Numbers", key="id", key_type="integer")
    assert r.ids == ["123", "456", "789"]
    assert r.warnings == ["vips.xlsx:5: malformed identifier '1.5'"]

    prof = pd.DataFrame({"user_id": ["u1", "u2", "u6"]})
    auds = [
        {
            "name": "v",
            "_dir": tmp_path,
            "list": {"file": "vips.xlsx", "column": "user_id", "sheet": "VIPs"},
        }
    ]
    assert ao.audience_members(auds, prof, D, tag_types={}) == {"v": {"u1", "u6"}}


def test_list_errors(tmp_path: Path) -> None:
    f = tmp_path / "e.csv"
    f.write_text("user_id\n\n", encoding="utf-8")
    with pytest.raises(ao.OracleError, match="empty"):
        ao.read_list(f)
    f.write_text("u1\nu2\nu3\nu1\n", encoding="utf-8")
    assert ao.read_list(f, max_rows=3).ids == ["u1", "u2", "u3"]
    with pytest.raises(ao.OracleError, match="max_rows"):
        ao.read_list(f, max_rows=2)
    with pytest.raises(ao.OracleError):
        ao.read_list(tmp_path / "missing.csv")
    (tmp_path / "x.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ao.OracleError):
        ao.read_list(tmp_path / "x.json")


# ---------------------------------------------------------------------------------------------
# Stats and changes
# ---------------------------------------------------------------------------------------------
def test_stats_and_changes_two_days() -> None:
    day1 = {"A": {"u2", "u3", "u4", "u5"}, "B": {"u4"}}
    day2 = {"A": {"u1", "u2", "u3"}, "B": {"u4"}, "N": set()}

    assert ao.audience_stats(day1, None) == {
        "A": {"size": 4, "previous_size": None, "added": 4, "removed": 0},
        "B": {"size": 1, "previous_size": None, "added": 1, "removed": 0},
    }
    assert ao.audience_changes(day1, None) == {
        ("A", "u2", "entered"),
        ("A", "u3", "entered"),
        ("A", "u4", "entered"),
        ("A", "u5", "entered"),
        ("B", "u4", "entered"),
    }
    stats = ao.audience_stats(day2, day1)
    assert stats == {
        "A": {"size": 3, "previous_size": 4, "added": 1, "removed": 2},
        "B": {"size": 1, "previous_size": 1, "added": 0, "removed": 0},
        "N": {"size": 0, "previous_size": 0, "added": 0, "removed": 0},
    }
    assert ao.audience_changes(day2, day1) == {
        ("A", "u1", "entered"),
        ("A", "u4", "exited"),
        ("A", "u5", "exited"),
    }
    assert ao.audience_change(stats["A"]) == 0.25
    assert ao.audience_change(stats["B"]) == 0.0
    assert ao.audience_change(stats["N"]) is None


# ---------------------------------------------------------------------------------------------
# Audience profile
# ---------------------------------------------------------------------------------------------
def _rows(df: pd.DataFrame) -> list[tuple]:
    return [tuple(r) for r in df.itertuples(index=False)]


def _check_rows(got: pd.DataFrame, expected: list[tuple]) -> None:
    assert list(got.columns) == ao.PROFILE_COLUMNS
    rows = _rows(got)
    assert [r[:4] for r in rows] == [e[:4] for e in expected]
    for r, e in zip(rows, expected, strict=True):
        assert r[4] == pytest.approx(e[4]), r
        assert r[5] == e[5], r
        assert r[6] == pytest.approx(e[6]), r
        if e[7] is None:
            assert math.isnan(r[7]), r
        else:
            assert r[7] == pytest.approx(e[7]), r


def test_audience_profile_shares_and_tgi() -> None:
    # population of five:   vip    tier  spend  n   arr
    #                 p1    true   a     10     1   [x]
    #                 p2    true   a     20     1   [x]
    #                 p3    false  b     30     1   []
    #                 p4    null   b     40     1   null
    #                 p5    false  null  null   5   [y]
    # spend quintile edges of [10, 20, 30, 40] (pos = 3p): 16, 22, 28, 34
    # n quintile edges of [1, 1, 1, 1, 5] (pos = 4p): 1, 1, 1, 1.8 -> distinct {1, 1.8}
    prof = pd.DataFrame(
        {
            "user_id": ["p1", "p2", "p3", "p4", "p5"],
            "vip": [True, True, False, None, False],
            "tier": ["a", "a", "b", "b", None],
            "spend": [10.0, 20.0, 30.0, 40.0, np.nan],
            "n": [1, 1, 1, 1, 5],
            "arr": [["x"], ["x"], [], None, ["y"]],
        }
    )
    tag_types = {
        "vip": "boolean",
        "tier": "enum",
        "spend": "double",
        "n": "integer",
        "arr": "array<string>",
    }
    members = {"X": {"p1", "p2", "p3"}, "Y": {"p4", "p5"}, "Z": {"p1", "ghost"}, "E": set()}
    tags = {"X": ["vip", "tier", "spend", "n", "arr"], "Z": ["vip"], "E": ["vip"]}
    got = ao.audience_profile(prof, members, tags, key="user_id", tag_types=tag_types)
    third, two3 = 1 / 3, 2 / 3
    expected = [
        # audience, tag, value, aud_users, share_in_aud, pop_users, share_in_pop, tgi
        ("X", "n", "[1, 1.8)", 3, 1.0, 4, 0.8, 125.0),
        ("X", "spend", "< 16", 1, third, 1, 0.2, third / 0.2 * 100),
        ("X", "spend", "[16, 22)", 1, third, 1, 0.2, third / 0.2 * 100),
        ("X", "spend", "[28, 34)", 1, third, 1, 0.2, third / 0.2 * 100),
        ("X", "tier", "a", 2, two3, 2, 0.4, 166.66666666666666),
        ("X", "tier", "b", 1, third, 2, 0.4, 83.33333333333333),
        ("X", "vip", "false", 1, third, 2, 0.4, 83.33333333333333),
        ("X", "vip", "true", 2, two3, 2, 0.4, 166.66666666666666),
        # Y has no tags entry -> default: enum and boolean tags (vip, tier)
        ("Y", "tier", "(null)", 1, 0.5, 1, 0.2, 250.0),
        ("Y", "tier", "b", 1, 0.5, 2, 0.4, 125.0),
        ("Y", "vip", "(null)", 1, 0.5, 1, 0.2, 250.0),
        ("Y", "vip", "false", 1, 0.5, 2, 0.4, 125.0),
        # "ghost" is not in the profile: its value is missing -> (null)
        ("Z", "vip", "(null)", 1, 0.5, 1, 0.2, 250.0),
        ("Z", "vip", "true", 1, 0.5, 2, 0.4, 125.0),
    ]
    _check_rows(got, expected)

    got_y = ao.audience_profile(
        prof, {"Y": {"p4", "p5"}}, {"Y": ["spend", "n"]}, key="user_id", tag_types=tag_types
    )
    _check_rows(
        got_y,
        [
            ("Y", "n", ">= 1.8", 1, 0.5, 1, 0.2, 250.0),
            ("Y", "n", "[1, 1.8)", 1, 0.5, 4, 0.8, 62.5),
            ("Y", "spend", "(null)", 1, 0.5, 1, 0.2, 250.0),
            ("Y", "spend", ">= 34", 1, 0.5, 1, 0.2, 250.0),
        ],
    )


def test_quintile_labels() -> None:
    assert ao.quintile_edges([10, 20, 30, 40, None]) == pytest.approx([16, 22, 28, 34])
    assert ao.quintile_edges([None, None]) == []
    assert ao.bucket_label(0.5, [1.0, 2.5]) == "< 1"
    assert ao.bucket_label(1.0, [1.0, 2.5]) == "[1, 2.5)"
    assert ao.bucket_label(2.5, [1.0, 2.5]) == ">= 2.5"
    assert ao.bucket_label(3e6, [1e6]) == ">= 1e+06"
    # edges of 1..10 (pos = 9p): 2.8, 4.6, 6.4, 8.2
    edges = ao.quintile_edges(range(1, 11))
    assert [f"{e:g}" for e in edges] == ["2.8", "4.6", "6.4", "8.2"]
    assert [ao.bucket_label(x, edges) for x in (2, 3, 5, 7, 9)] == [
        "< 2.8",
        "[2.8, 4.6)",
        "[4.6, 6.4)",
        "[6.4, 8.2)",
        ">= 8.2",
    ]


def test_audience_profile_string_top20() -> None:
    # population: "zz" x3, "a01".."a21" once each, one null -> 25 users
    # top 20 = zz + a01..a19 (ties by value); a20, a21 -> (other)
    cities = ["zz"] * 3 + [f"a{i:02d}" for i in range(1, 22)] + [None]
    keys = [f"k{i:02d}" for i in range(len(cities))]
    prof = pd.DataFrame({"user_id": keys, "city": cities})
    by_city = dict(zip(cities, keys, strict=False))
    aud = {by_city["a20"], by_city["a21"], "k00", by_city[None], by_city["a01"]}
    got = ao.audience_profile(
        prof, {"A": aud}, {"A": ["city"]}, key="user_id", tag_types={"city": "string"}
    )
    _check_rows(
        got,
        [
            ("A", "city", "(null)", 1, 0.2, 1, 0.04, 500.0),
            ("A", "city", "(other)", 2, 0.4, 2, 0.08, 500.0),
            ("A", "city", "a01", 1, 0.2, 1, 0.04, 500.0),
            ("A", "city", "zz", 1, 0.2, 3, 0.12, 0.2 / 0.12 * 100),
        ],
    )


# ---------------------------------------------------------------------------------------------
# u() and scenes
# ---------------------------------------------------------------------------------------------
def test_u_matches_hashlib() -> None:
    digest = hashlib.sha256(b"home_popup_v1:holdout:u42").hexdigest()
    assert digest[:15] == "97d5d3b58b78ec2"
    assert ao.u("home_popup_v1", "holdout", "u42") == int("97d5d3b58b78ec2", 16) / 16**15
    assert ao.u("home_popup_v1", "holdout", "u42") == pytest.approx(0.593106490919556)
    assert 0 <= ao.u("s", "split:b", "") < 1


# Hand-recorded u values used below (4 decimals):
#   salt sc1: key  holdout  split:b1  split:b2        salt sc2: holdout  split:p  split:q
#             k1   0.1326   0.9403    0.0920                    0.6739   0.8182   0.3656
#             k2   0.1981   0.9667    0.3215                    0.1667   0.9417   0.8066
#             k3   0.0401   0.9444    0.8959                    0.7450   0.9936   0.8759
#             k4   0.0138   0.5527    0.9915                    0.9058   0.3828   0.1369
#             k5   0.0708   0.1250    0.8335                    0.5372   0.6467   0.6367
#             k6   0.4051   0.2927    0.8770                    0.5784   0.1916   0.8920
#             k7   0.7048   0.8800    0.0443                    0.4918   0.1158   0.1013
#             k8   0.3963   0.4016    0.7964                    0.8156   0.8772   0.3545
#             k9   0.7249   0.8055    0.6672                    0.1896   0.1926   0.8687
#             k10  0.2493   0.6980    0.8158                    0.0514   0.7805   0.7847
SCENE_MEMBERS = {
    "A1": {"k1", "k2", "k3", "k4", "k5", "k6"},
    "A2": {"k4", "k5", "k6", "k7", "k8", "k9", "k10"},
}
SCENES = [
    {
        "name": "home",
        "salt": "sc1",
        "holdout": 0.05,
        "branches": [
            {
                "name": "b1",
                "audience": "A1",
                "payload": {"template": "winback", "coupon_id": "WB-20"},
                "control": 0.2,
                "variants": [
                    {"name": "a", "weight": 1},
                    {"name": "b", "weight": 3, "payload": {"coupon_id": "WB-30"}},
                ],
            },
            {"name": "b2", "audience": "A2", "payload": {"template": "vip_感谢"}, "control": 0.1},
        ],
    },
    {
        "name": "sc2",  # salt defaults to the name
        "holdout": 0.18,
        "branches": [
            {
                "name": "p",
                "audience": "A2",
                "variants": [{"name": "x", "weight": 1}, {"name": "y", "weight": 1}],
            },
            {"name": "q", "audience": "A1"},
        ],
    },
]
WB20 = '{"coupon_id":"WB-20","template":"winback"}'
WB30 = '{"coupon_id":"WB-30","template":"winback"}'
VIP = '{"template":"vip_感谢"}'


def test_scene_assignments() -> None:
    got = ao.scene_assignments(SCENES, SCENE_MEMBERS)
    assert list(got.columns) == ["scene", "key", "branch", "group", "variant", "payload"]
    rows = {
        (r.scene, r.key): (r.branch, r.group, r.variant, r.payload)
        for r in got.itertuples(index=False)
    }
    assert len(rows) == len(got)  # one row per (scene, key): exclusivity
    assert rows == {
        # home: k1..k6 -> b1 (first branch wins for k4..k6), k7..k10 -> b2
        # holdout < 0.05: k3, k4; b1 control < 0.2: k5;
        # b1 variants: v = (s - 0.2) / 0.8, a if v < 0.25 else b
        ("home", "k1"): ("b1", "treatment", "b", WB30),  # v = 0.925
        ("home", "k2"): ("b1", "treatment", "b", WB30),  # v = 0.958
        ("home", "k3"): ("b1", "holdout", None, None),
        ("home", "k4"): ("b1", "holdout", None, None),
        ("home", "k5"): ("b1", "control", None, None),
        ("home", "k6"): ("b1", "treatment", "a", WB20),  # v = 0.116
        ("home", "k7"): ("b2", "control", None, None),  # s = 0.0443 < 0.1
        ("home", "k8"): ("b2", "treatment", None, VIP),
        ("home", "k9"): ("b2", "treatment", None, VIP),
        ("home", "k10"): ("b2", "treatment", None, VIP),
        # sc2: k4..k10 -> p (listed first), k1..k3 -> q; holdout < 0.18: k2, k10
        # p variants: x if s < 0.5 else y; no payload anywhere -> None
        ("sc2", "k1"): ("q", "treatment", None, None),
        ("sc2", "k2"): ("q", "holdout", None, None),
        ("sc2", "k3"): ("q", "treatment", None, None),
        ("sc2", "k4"): ("p", "treatment", "x", None),
        ("sc2", "k5"): ("p", "treatment", "y", None),
        ("sc2", "k6"): ("p", "treatment", "x", None),
        ("sc2", "k7"): ("p", "treatment", "x", None),
        ("sc2", "k8"): ("p", "treatment", "y", None),
        ("sc2", "k9"): ("p", "treatment", "x", None),
        ("sc2", "k10"): ("p", "holdout", None, None),
    }
    assert json.loads(VIP) == {"template": "vip_感谢"}


def test_scene_counts() -> None:
    counts = ao.scene_counts(ao.scene_assignments(SCENES, SCENE_MEMBERS))
    assert counts == {
        ("home", "b1", "treatment", "b"): 2,
        ("home", "b1", "treatment", "a"): 1,
        ("home", "b1", "holdout", None): 2,
        ("home", "b1", "control", None): 1,
        ("home", "b2", "control", None): 1,
        ("home", "b2", "treatment", None): 3,
        ("sc2", "q", "treatment", None): 2,
        ("sc2", "q", "holdout", None): 1,
        ("sc2", "p", "treatment", "x"): 4,
        ("sc2", "p", "treatment", "y"): 2,
        ("sc2", "p", "holdout", None): 1,
    }


def test_scene_salt_change_reshuffles_and_empty_payload() -> None:
    one = {"name": "s", "branches": [{"name": "b", "audience": "A", "payload": {}, "control": 0.5}]}
    members = {"A": {f"k{i}" for i in range(40)}}
    a = ao.scene_assignments([one], members)
    b = ao.scene_assignments([{**one, "salt": "other"}], members)
    assert set(a["payload"].dropna()) == {"{}"}
    assert list(a["key"]) == list(b["key"])
    assert list(a["group"]) != list(b["group"])
    # the same salt gives the same groups on every call (stable across days)
    assert list(ao.scene_assignments([{**one, "salt": "s"}], members)["group"]) == list(a["group"])
