"""Uploaded identifier lists: reading .csv / .txt / .xlsx files into normalized identifiers.

Every fixture is a real file written under ``tmp_path`` (workbooks with xlsxwriter or openpyxl)
and read back with :func:`read_id_list`. The fuzz tests show that whatever bytes a list file
holds, reading it returns a result or raises :class:`ListFileError`, never anything else.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagfactory.audiences.lists import read_normalized
from tagfactory.compiler.lists import (
    MAX_ISSUES,
    ListFileError,
    ListIssue,
    ListReadResult,
    read_id_list,
    write_id_list,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    """Write a list file (text as UTF-8, with the line ends given: no newline translation)."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook written by xlsxwriter: one worksheet per entry, rows from A1 (None = no cell)."""
    workbook = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        worksheet = workbook.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    worksheet.write_string(r, c, value)  # text, even when it looks like a number
                elif isinstance(value, dt.datetime):
                    worksheet.write_datetime(r, c, value, workbook.add_format({"num_format": "yyyy-mm-dd"}))
                else:
                    worksheet.write(r, c, value)
    workbook.close()
    return path


def check_invariants(result: ListReadResult) -> None:
    """Every non-blank data row is an identifier, a duplicate or a malformed value."""
    assert result.rows == len(result.ids) + result.duplicates + result.malformed_count
    assert len(result.ids) == len(set(result.ids))
    assert len(result.malformed) == min(result.malformed_count, MAX_ISSUES)
    for issue in result.malformed:
        assert issue.line >= 1 and len(issue.value) <= 80 and issue.reason


def read(path: Path, **options: Any) -> ListReadResult:
    result = read_id_list(path, **options)
    check_invariants(result)
    return result


# --------------------------------------------------------------------------------------------
# CSV and text decoding
# --------------------------------------------------------------------------------------------

def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfu1\nu2\n")
    result = read(path)
    assert result.ids == ["u1", "u2"]  # the BOM does not make the first value malformed
    assert result.header is None and result.malformed_count == 0


def test_blank_lines_and_cells_are_skipped_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "blank.csv", "\n\nu1,a\n\n  \n,b\nu2,c\n\n")
    result = read(path)
    assert result.ids == ["u1", "u2"]
    assert result.blank == 6  # rows 1, 2, 4, 5 (spaces only) and 8, and the blank cell of row 6
    assert result.rows == 2


def test_crlf_line_ends(tmp_path: Path) -> None:
    path = write(tmp_path, "crlf.csv", "user_id,name\r\nu1,a\r\nbad id,b\r\nu2,c\r\n")
    result = read(path, key_name="user_id")
    assert result.ids == ["u1", "u2"]
    assert result.header == "user_id"
    assert result.malformed == [ListIssue(3, "bad id", "not a well-formed identifier (contains ' ')")]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    rows = [["user_id", "city", "score"], ["u1", "Shanghai", "1,5"], ["u2", "Beijing", "2,5"],
            ["u3", "Hangzhou", "3,5"]]
    path = write(tmp_path, "list.csv", "".join(delimiter.join(row) + "\n" for row in rows))
    assert read(path, key_name="user_id").ids == ["u1", "u2", "u3"]
    by_name = read(path, column="city")
    assert by_name.ids == ["Shanghai", "Beijing", "Hangzhou"]
    assert by_name.column == "`city` (column 2)"


def test_semicolon_file_with_commas_in_quoted_values(tmp_path: Path) -> None:
    path = write(tmp_path, "semi.csv", 'id;note\n1;"a, b"\n2;"c, d"\n3;"e, f"\n')
    result = read(path, column="id", key_type="integer")
    assert result.ids == ["1", "2", "3"]


def test_quoted_values(tmp_path: Path) -> None:
    content = 'user_id,note\n"u1","hello, world"\n"u2","say ""hi"""\n"u3","two\nlines"\n"u4",x\n'
    result = read(write(tmp_path, "quoted.csv", content), key_name="user_id")
    assert result.ids == ["u1", "u2", "u3", "u4"]
    notes = read(write(tmp_path, "quoted2.csv", content), column=2, header=True)
    assert notes.malformed[0] == ListIssue(2, "hello, world", "not a well-formed identifier (contains ',')")
    # the quoted value of row 4 spans two lines: the next row is row 6
    assert [issue.line for issue in notes.malformed] == [2, 3, 4]
    assert notes.ids == ["x"]


def test_quoted_value_spanning_lines_keeps_row_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "multi.csv", 'u1,"a\nb\nc"\nbad!,x\n')
    result = read(path)
    assert result.ids == ["u1"]
    assert result.malformed == [ListIssue(4, "bad!", "not a well-formed identifier (contains '!')")]


def test_values_are_trimmed_including_no_break_and_zero_width_spaces(tmp_path: Path) -> None:
    content = "  u1 \n\u00a0u2\u00a0\n\u200bu3\u200b\n\tu4\t\n\ufeffu5\n\u3000u6\u3000\nu\u200b7\n"
    result = read(write(tmp_path, "trim.csv", content))
    assert result.ids == ["u1", "u2", "u3", "u4", "u5", "u6", "u7"]
    assert result.malformed_count == 0


def test_no_break_space_inside_a_value_is_malformed(tmp_path: Path) -> None:
    result = read(write(tmp_path, "nbsp.csv", "u1\nu\u00a02\n"))
    assert result.ids == ["u1"]
    assert result.malformed == [ListIssue(2, "u\\xa02", "not a well-formed identifier (contains '\\xa0')")]


def test_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    result = read(write(tmp_path, "dup.csv", "u1\nu2\n u1\nu1\u00a0\nu2\nu3\n"))
    assert result.ids == ["u1", "u2", "u3"]  # first-seen order
    assert result.duplicates == 3
    assert result.rows == 6


def test_integer_duplicates_after_normalization(tmp_path: Path) -> None:
    result = read(write(tmp_path, "ints.csv", "7\n007\n0\n00\n12\n"), key_type="integer")
    assert result.ids == ["7", "0", "12"]
    assert result.duplicates == 2


def test_malformed_values_are_reported_with_their_row_numbers(tmp_path: Path) -> None:
    content = "User ID\nu1\n-u2\n\nu 3\nu4\n" + "x" * 200 + "\n_u5\nu6\n"
    result = read(write(tmp_path, "bad.csv", content))
    assert result.ids == ["u1", "u4", "u6"]
    assert [(issue.line, issue.reason) for issue in result.malformed] == [
        (3, "not a well-formed identifier (must start with a letter or digit)"),
        (5, "not a well-formed identifier (contains ' ')"),
        (7, "not a well-formed identifier (longer than 128 characters)"),
        (8, "not a well-formed identifier (must start with a letter or digit)"),
    ]
    assert result.malformed[2].value == "x" * 77 + "..."  # truncated to 80 characters
    assert result.malformed_count == 4


def test_malformed_values_are_capped_but_all_counted(tmp_path: Path) -> None:
    content = "u0\n" + "".join(f"bad value {i}\n" for i in range(250))
    result = read(write(tmp_path, "many.csv", content))
    assert result.malformed_count == 250
    assert len(result.malformed) == MAX_ISSUES
    assert result.malformed[-1].line == MAX_ISSUES + 1


def test_control_characters_are_escaped_in_reports(tmp_path: Path) -> None:
    result = read(write(tmp_path, "ctl.txt", "u1\nu\x072\n"))
    assert result.malformed[0].value == "u\\x072"


def test_integer_key_type_rejects_non_digits(tmp_path: Path) -> None:
    content = "123\nu123\n+5\n-5\n1.0\n1.23E+18\n99999999999999999999\n9223372036854775807\n"
    result = read(write(tmp_path, "ints.csv", content), key_type="integer")
    assert result.ids == ["123", "9223372036854775807"]
    assert [(issue.line, issue.value, issue.reason) for issue in result.malformed] == [
        (2, "u123", "not digits"),
        (3, "+5", "not digits"),
        (4, "-5", "not digits"),
        (5, "1.0", "not digits"),
        (6, "1.23E+18", "not digits (Excel scientific notation? format the column as text)"),
        (7, "99999999999999999999", "out of range for a 64-bit integer key"),
    ]


def test_string_key_accepts_the_documented_characters(tmp_path: Path) -> None:
    ident = "A9_.:@-" + "z" * 121  # 128 characters
    result = read(write(tmp_path, "ok.csv", f"{ident}\nuser@example.com\n1\n"))
    assert result.ids == [ident, "user@example.com", "1"]


# --------------------------------------------------------------------------------------------
# Header and column
# --------------------------------------------------------------------------------------------

def test_header_auto_detected_when_the_first_value_is_not_an_identifier(tmp_path: Path) -> None:
    result = read(write(tmp_path, "h.csv", "User ID,Name\nu1,a\nu2,b\n"))
    assert result.header == "User ID"
    assert result.column == "`User ID` (column 1)"
    assert result.ids == ["u1", "u2"] and result.malformed_count == 0


def test_header_auto_detected_for_integer_keys(tmp_path: Path) -> None:
    result = read(write(tmp_path, "h.csv", "uid\n1\n2\n"), key_type="integer")
    assert result.header == "uid"
    assert result.ids == ["1", "2"]


def test_header_auto_detected_when_it_is_the_key_name(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "USER_ID\nu1\nu2\n")  # a well-formed string identifier
    result = read(path, key_name="user_id")
    assert result.header == "USER_ID"
    assert result.ids == ["u1", "u2"]


def test_header_auto_keeps_a_valid_first_row(tmp_path: Path) -> None:
    result = read(write(tmp_path, "noheader.csv", "u1\nu2\nu3\n"), key_name="user_id")
    assert result.header is None
    assert result.ids == ["u1", "u2", "u3"]  # the first identifier is not lost
    assert result.column == "column 1"
    ints = read(write(tmp_path, "noheader_int.csv", "\n\n100,a\n200,b\n"), key_type="integer")
    assert ints.header is None and ints.ids == ["100", "200"]


def test_header_true_and_false(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "\nid\nu1\n")
    forced = read(path, header=True)
    assert forced.header == "id" and forced.ids == ["u1"]
    assert read(path).ids == ["id", "u1"]  # "id" is a well-formed identifier: auto keeps it
    bad_header = write(tmp_path, "h2.csv", "User ID\nu1\n")
    none = read(bad_header, header=False)
    assert none.header is None and none.ids == ["u1"]
    assert none.malformed == [ListIssue(1, "User ID", "not a well-formed identifier (contains ' ')")]


def test_column_by_name_is_case_insensitive_and_trimmed(tmp_path: Path) -> None:
    path = write(tmp_path, "cols.csv", "name, User_Id ,phone\nzhang,u1,138\nli,u2,139\n")
    result = read(path, column="user_id")
    assert result.ids == ["u1", "u2"]
    assert result.header == "User_Id"
    assert result.column == "`User_Id` (column 2)"
    assert read(path, column="  USER_ID ").ids == ["u1", "u2"]


def test_column_by_number(tmp_path: Path) -> None:
    path = write(tmp_path, "cols.csv", "name,user_id\nzhang,u1\nli,u2\n")
    result = read(path, column=2, key_name="user_id")
    assert result.ids == ["u1", "u2"]
    assert result.header == "user_id"  # well formed, but it is the key name
    assert result.column == "`user_id` (column 2)"
    with_name = read(write(tmp_path, "cols2.csv", "name,User ID\nzhang,u1\n"), column=2)
    assert with_name.column == "`User ID` (column 2)" and with_name.ids == ["u1"]


def test_column_number_missing_on_a_row_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, "short.csv", "a,u1\nb\nc,u2\n")
    result = read(path, column=2)
    assert result.ids == ["u1", "u2"]
    assert result.malformed == [ListIssue(2, "b", "row has only 1 column")]


def test_column_number_on_no_row_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "narrow.csv", "u1,a\nu2,b\n")
    with pytest.raises(ListFileError, match=r"narrow\.csv has no column 3: its rows have at most 2"):
        read_id_list(path, column=3)


def test_unknown_column_name_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "cols.csv", "\nname,user_id,phone\nzhang,u1,138\n")
    with pytest.raises(ListFileError) as info:
        read_id_list(path, column="userid")
    error = info.value
    assert str(path) in error.message
    assert "`name`, `user_id`, `phone`" in error.message
    assert error.hint == "did you mean `user_id`?"
    assert error.line == 2  # the header row


def test_column_name_without_a_header_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cols.csv", "user_id\nu1\n")
    with pytest.raises(ListFileError, match="header: false"):
        read_id_list(path, column="user_id", header=False)


def test_bad_options_are_list_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "l.csv", "u1\n")
    for options in ({"column": 0}, {"header": "maybe"}, {"max_rows": 0}, {"sheet": "VIPs"}):
        with pytest.raises(ListFileError):
            read_id_list(path, **options)
    with pytest.raises(ValueError, match="key_type"):
        read_id_list(path, key_type="uuid")


# --------------------------------------------------------------------------------------------
# .txt files
# --------------------------------------------------------------------------------------------

def test_txt_file_has_one_identifier_per_line(tmp_path: Path) -> None:
    content = "\ufeffuser_id\r\n\r\nu1\r\nu2,u3\r\n u4 \ru1\n"
    result = read(write(tmp_path, "list.TXT", content), key_name="user_id")
    assert result.header == "user_id"
    assert result.ids == ["u1", "u4"]
    assert result.duplicates == 1
    assert result.malformed == [ListIssue(4, "u2,u3", "not a well-formed identifier (contains ',')")]
    with pytest.raises(ListFileError, match="one identifier per line"):
        read_id_list(tmp_path / "list.TXT", column=2)


# --------------------------------------------------------------------------------------------
# .xlsx files
# --------------------------------------------------------------------------------------------

def test_xlsx_numeric_ids_stored_as_numbers_and_as_text(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "ids.xlsx", {"Sheet1": [
        ["user_id", "name"], [123, "a"], [456.0, "b"], ["789", "c"], [" 1000 ", "d"], ["123", "e"]]})
    result = read(path, key_type="integer")
    assert result.header == "user_id"
    assert result.ids == ["123", "456", "789", "1000"]
    assert result.duplicates == 1
    text = read(path, key_type="string", key_name="user_id")
    assert text.ids == ["123", "456", "789", "1000"]


def test_xlsx_float_cell_123_0_is_read_as_123(tmp_path: Path) -> None:
    """Some tools store integral numbers as ``<v>123.0</v>``: openpyxl reads them as floats."""
    plain = write_xlsx(tmp_path / "plain.xlsx", {"Sheet1": [[111], [222], [333]]})
    patched = tmp_path / "floats.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<v>111</v>", b"<v>123.0</v>").replace(b"<v>222</v>", b"<v>1.5E2</v>")
                data = data.replace(b"<v>333</v>", b"<v>12.5</v>")
            target.writestr(item, data)
    workbook = openpyxl.load_workbook(patched, read_only=True)
    assert isinstance(next(workbook.active.iter_rows(values_only=True))[0], float)
    workbook.close()
    result = read(patched, key_type="integer")
    assert result.ids == ["123", "150"]
    assert result.malformed == [ListIssue(3, "12.5", "not a whole number")]


def test_xlsx_dates_booleans_and_huge_numbers_are_malformed(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "odd.xlsx", {"Sheet1": [
        [1], [dt.datetime(2024, 5, 1)], [True], [1.2345678901234567e18], ["#N/A"], [2]]})
    result = read(path, key_type="integer")
    assert result.ids == ["1", "2"]
    assert [(issue.line, issue.reason.split(" (")[0]) for issue in result.malformed] == [
        (2, "a date/time cell, not an identifier"),
        (3, "a TRUE/FALSE cell, not an identifier"),
        (4, "a number too large for Excel to store exactly"),
        (5, "not digits"),
    ]


def test_xlsx_rows_are_sheet_row_numbers_and_short_rows_are_blank_cells(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "gaps.xlsx", {"Sheet1": [
        [], [], [None, "user_id"], ["x", "u1"], ["y"], [], [None, "bad id"], ["z", "u2"]]})
    result = read(path, column="User_ID")
    assert result.ids == ["u1", "u2"]
    assert result.header == "user_id"
    assert result.column == "`user_id` (column 2)"
    assert result.malformed == [ListIssue(7, "bad id", "not a well-formed identifier (contains ' ')")]
    assert result.blank == 4  # rows 1, 2 and 6, and the missing cell of row 5


def test_xlsx_chosen_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", {
        "Notes": [["not", "a", "list"]],
        "VIPs": [["User ID"], ["v1"], ["v2"]],
    })
    assert read(path, sheet="VIPs").ids == ["v1", "v2"]
    assert read(path, sheet="vips").ids == ["v1", "v2"]  # Excel sheet names ignore case
    assert read(path).ids == ["not"]  # default: the first sheet


def test_xlsx_unknown_sheet_is_an_error_listing_the_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", {"Notes": [["u1"]], "VIPs": [["v1"]]})
    with pytest.raises(ListFileError) as info:
        read_id_list(path, sheet="VIP")
    assert "has no sheet `VIP`" in info.value.message
    assert "`Notes`, `VIPs`" in info.value.message
    assert info.value.hint == "did you mean `VIPs`?"


def test_xlsx_written_by_openpyxl(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = "list"
    for row in (["phone", "uid"], ["138", 10], ["139", 20]):
        worksheet.append(row)
    path = tmp_path / "Upper.XLSX"
    workbook.save(path)
    result = read(path, column="UID", key_type="integer")
    assert result.ids == ["10", "20"]


def test_empty_xlsx_sheet_is_an_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "empty.xlsx", {"Sheet1": []})
    with pytest.raises(ListFileError, match="no identifiers in .*empty.xlsx"):
        read_id_list(path)


# --------------------------------------------------------------------------------------------
# Limits and unusable files
# --------------------------------------------------------------------------------------------

def test_more_than_max_rows_identifiers_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", "".join(f"u{i}\n" for i in range(20)))
    assert len(read(path, max_rows=20).ids) == 20
    duplicates = write(tmp_path, "dups.csv", "".join(f"u{i % 5}\n" for i in range(50)))
    assert len(read(duplicates, max_rows=5).ids) == 5  # only distinct identifiers count
    with pytest.raises(ListFileError) as info:
        read_id_list(path, max_rows=10)
    assert "has more than 10 identifiers" in info.value.message
    assert "max_rows" in info.value.hint


def test_file_bigger_than_max_bytes_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", "u1\n" * 100)
    with pytest.raises(ListFileError, match="more than the 100 bytes"):
        read_id_list(path, max_bytes=100)


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff"])
def test_empty_file_is_an_error(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, "empty.csv", content)
    with pytest.raises(ListFileError, match=r"no identifiers in .*empty\.csv"):
        read_id_list(path)


def test_header_only_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "header.csv", "user_id\n\n")
    with pytest.raises(ListFileError, match="only a header row") as info:
        read_id_list(path, key_name="user_id")
    assert "header: false" in info.value.hint


def test_all_malformed_is_an_error_counting_them(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "u1\nu2\nu3\n")
    with pytest.raises(ListFileError, match=r"all 3 value\(s\) of column 1 are malformed") as info:
        read_id_list(path, key_type="integer", header=False)
    assert "row 1: `u1`: not digits" in info.value.message


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ListFileError, match="list file not found: .*nope.csv"):
        read_id_list(tmp_path / "nope.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ListFileError, match="is a folder"):
        read_id_list(tmp_path / "folder.csv")


@pytest.mark.parametrize("name", ["list.json", "list.tsv", "list", "list.xlsm"])
def test_unsupported_extension_is_an_error(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "u1\n")
    with pytest.raises(ListFileError, match=r"a list must be \.csv, \.txt or \.xlsx"):
        read_id_list(path)


def test_old_excel_xls_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    with pytest.raises(ListFileError, match="old Excel .xls") as info:
        read_id_list(path)
    assert ".xlsx" in info.value.hint


def test_workbook_renamed_csv_is_an_error(tmp_path: Path) -> None:
    workbook = write_xlsx(tmp_path / "book.xlsx", {"Sheet1": [["u1"]]})
    path = write(tmp_path, "book.csv", workbook.read_bytes())
    with pytest.raises(ListFileError, match="looks like an Excel .xlsx workbook"):
        read_id_list(path)


def test_corrupt_xlsx_is_an_error(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = write(tmp_path, "corrupt.xlsx", bytes(rng.randrange(256) for _ in range(4096)))
    with pytest.raises(ListFileError, match=r"corrupt\.xlsx is not a readable \.xlsx workbook"):
        read_id_list(path)
    text = write(tmp_path, "text.xlsx", "u1\nu2\n")
    with pytest.raises(ListFileError, match="not a readable .xlsx workbook"):
        read_id_list(text)


def test_mutated_xlsx_gives_a_result_or_a_list_error(tmp_path: Path) -> None:
    """Truncated and bit-flipped workbooks: zip, zlib and XML errors all become ListFileError."""
    original = write_xlsx(tmp_path / "good.xlsx", {"VIPs": [["user_id"]] + [[f"u{i}"] for i in range(50)]})
    data = original.read_bytes()
    rng = random.Random(20240501)
    path = tmp_path / "mutated.xlsx"
    outcomes = {"result": 0, "error": 0}
    for attempt in range(150):
        mutated = bytearray(data)
        if attempt % 3 == 0:
            mutated = mutated[: rng.randrange(len(mutated))]
        else:
            for _ in range(rng.randrange(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        path.write_bytes(bytes(mutated))
        try:
            check_invariants(read_id_list(path, sheet=rng.choice([None, "VIPs"])))
            outcomes["result"] += 1
        except ListFileError as error:
            assert error.message.startswith(str(path)) or str(path) in error.message
            outcomes["error"] += 1
    assert outcomes["error"] > 0


def test_non_utf8_csv_is_an_error_naming_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "gbk.csv", b"user_id,city\nu1,a\n" + "u2,上海\n".encode("gbk"))
    with pytest.raises(ListFileError) as info:
        read_id_list(path)
    error = info.value
    assert error.line == 3
    assert "gbk.csv is not UTF-8 text" in error.message
    assert "offset 21" in error.message and "row 3" in error.message
    assert "save the file as UTF-8" in error.hint


def test_unterminated_quote_does_not_crash(tmp_path: Path) -> None:
    path = write(tmp_path, "quote.csv", 'u1\n"u2\nu3\n')
    try:
        check_invariants(read_id_list(path))
    except ListFileError as error:
        assert "quote.csv" in error.message


def test_list_file_error_formats_and_pickles() -> None:
    error = ListFileError("lists/a.csv: bad", hint="fix it", line=3)
    assert str(error) == "lists/a.csv: bad"  # the hint is shown apart by the caller
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.hint, copy.line) == ("lists/a.csv: bad", "fix it", 3)


# --------------------------------------------------------------------------------------------
# Fuzz: nothing but ListFileError
# --------------------------------------------------------------------------------------------

def read_or_list_error(path: Path, **options: Any) -> None:
    try:
        check_invariants(read_id_list(path, **options))
    except ListFileError as error:
        assert error.message


@FUZZ
@given(data=st.binary(max_size=2048), key_type=st.sampled_from(["string", "integer"]))
def test_random_bytes_as_csv_and_xlsx(tmp_path: Path, data: bytes, key_type: str) -> None:
    for name in ("random.csv", "random.txt", "random.xlsx"):
        read_or_list_error(write(tmp_path, name, data), key_type=key_type)


# Characters and tokens that matter to the reader: delimiters, quotes, line ends, invisible spaces.
TOKENS = list("ab1 9_.:@-,;\t|\"'\r\n\u00a0\u200b\ufeff\x00上") + ["user_id", "123", "\r\n"]
CSV_TEXT = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)


@FUZZ
@given(
    text=CSV_TEXT,
    column=st.sampled_from([None, 1, 2, 3, "user_id", "B"]),
    header=st.sampled_from(["auto", True, False]),
    key_type=st.sampled_from(["string", "integer"]),
)
def test_random_text_as_csv_and_txt(tmp_path: Path, text: str, column: Any, header: Any,
                                     key_type: str) -> None:
    for name in ("random.csv", "random.txt"):
        read_or_list_error(write(tmp_path, name, text), column=column, header=header,
                           key_type=key_type, key_name="user_id")


@settings(FUZZ, max_examples=60)  # each example writes a workbook: slower
@given(rows=st.lists(st.lists(st.one_of(
    st.none(), st.lists(st.sampled_from(TOKENS), max_size=4).map("".join), st.integers(-10, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.booleans()), max_size=3), max_size=12))
def test_random_cells_as_xlsx(tmp_path: Path, rows: list[list[Any]]) -> None:
    cleaned = [[re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", v) if isinstance(v, str) else v for v in row]
               for row in rows]
    path = write_xlsx(tmp_path / "random.xlsx", {"Sheet1": cleaned})
    for key_type in ("string", "integer"):
        read_or_list_error(path, key_type=key_type, key_name="user_id")
        read_or_list_error(path, key_type=key_type, column=2)


# --------------------------------------------------------------------------------------------
# Normalized lists
# --------------------------------------------------------------------------------------------

def test_write_and_read_normalized_round_trip(tmp_path: Path) -> None:
    source = read(write(tmp_path, "l.csv", "\ufeffuser_id\r\n u1\r\nu2\r\nu1\r\n123\r\n"),
                  key_name="user_id")
    target = tmp_path / "build" / "lists" / "vip.ids"
    write_id_list(source.ids, target)
    assert target.read_bytes() == b"u1\nu2\n123\n"
    assert read_normalized(target) == ["u1", "u2", "123"]
    write_id_list(["u9"], target)  # replaced atomically: no temporary file is left behind
    assert read_normalized(target) == ["u9"]
    assert os.listdir(target.parent) == ["vip.ids"]
    write_id_list([], target)
    assert read_normalized(target) == []


def test_write_id_list_refuses_unnormalized_ids_and_keeps_the_old_list(tmp_path: Path) -> None:
    target = tmp_path / "vip.ids"
    write_id_list(["u1"], target)
    for bad in (["u2", "two\nlines"], [" u3"], [""]):
        with pytest.raises(ValueError, match="not a normalized identifier"):
            write_id_list(bad, target)
    assert read_normalized(target) == ["u1"]
    assert os.listdir(tmp_path) == ["vip.ids"]


def test_read_normalized_errors(tmp_path: Path) -> None:
    with pytest.raises(ListFileError, match="normalized list not found"):
        read_normalized(tmp_path / "missing.ids")
    broken = write(tmp_path, "broken.ids", "u1\n\nu2\n")
    with pytest.raises(ListFileError, match="row 2 is not a normalized identifier"):
        read_normalized(broken)
