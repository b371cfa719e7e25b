"""PII treatments in Spark: every published vector, masks, nulls, and the demo users' emails and phones.

The expected values come from ``tests/fixtures/hashing_vectors.json`` and from the independent
plain-Python reference of tests/unit/test_hash_profiles.py, never from the Spark code itself.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tagfactory.compiler.hash_profiles import PROFILE_NAMES, UnknownHashProfileError
from tagfactory.errors import ConfigError
from tests.unit.test_hash_profiles import VECTORS, ref_mask, ref_normalize, ref_sha256

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
KINDS = ("email", "phone", "other")
EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE_LIKE = re.compile(r"\+?[\d\s().-]{7,20}")
HEX64 = re.compile(r"[0-9a-f]{64}")
ENGINES = ("jvm", "expressions")


def _jvm_jar() -> bool:
    from tagfactory.lakehouse.jars import spark_jars

    return any(Path(j).name.startswith("tagfactory-udf") for j in spark_jars())


def _engine(spark: SparkSession, name: str) -> str:
    """``name``, after checking the JVM functions are there when the jar is (skip if it is not resolved)."""
    from tagfactory.exports.hashing import engine

    if name == "jvm" and engine(spark) != "jvm":
        assert not _jvm_jar(), "the tagfactory-udf jar is in the Spark jar set but its functions do not load"
        pytest.skip("the tagfactory-udf jar is not resolved (make jars)")
    return name


def _inputs(spark: SparkSession, values: list[str | None]) -> DataFrame:
    return spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")


def _no_python_udf(frame: DataFrame) -> None:
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "Python" not in plan and "BatchEval" not in plan and "ArrowEval" not in plan, plan


@pytest.mark.parametrize("engine", ENGINES)
def test_every_vector_through_spark_equals_the_reference(spark: SparkSession, engine: str) -> None:
    from pyspark.sql import functions as F

    from tagfactory.exports import hashing

    engine = _engine(spark, engine)
    for kind in KINDS:
        vectors = [v for v in DATA["vectors"] if v["kind"] == kind]
        inputs = list(dict.fromkeys(v["input"] for v in vectors))  # same inputs for every profile
        frame = _inputs(spark, inputs)
        columns = [F.col("i")]
        for name in PROFILE_NAMES:
            columns += [hashing.normalize(F.col("v"), name, kind, engine).alias(f"{name}_n"),  # type: ignore[arg-type]
                        hashing.hash_column(F.col("v"), name, kind, engine).alias(f"{name}_h")]  # type: ignore[arg-type]
        result = frame.select(*columns)
        _no_python_udf(result)
        rows = {r["i"]: r for r in result.collect()}
        checked = 0
        for vector in vectors:
            row = rows[inputs.index(vector["input"])]
            got = (row[f"{vector['profile']}_n"], row[f"{vector['profile']}_h"])
            assert got == (vector["normalized"], vector["sha256"]), (kind, vector)
            checked += 1
        assert checked == len(vectors) == len(inputs) * len(PROFILE_NAMES)


# pieces of random values: what the rules look at (trim characters, '+', '00', '@', gmail domains, dots,
# case) and what they must leave alone (inner and other white space, non-ASCII letters and digits)
_PIECES = (list("aZ09+-.()@ xX") + ["0", "00", "+", "@", ".", "..", "@gmail.com", "@GoogleMail.COM", "gmail.com",
           "@gmail.com.cn", "@example.com", "\t", "\n", "\x0b", "\f", "\r", "\u00a0", "\u200b", "\u3000",
           "\ufeff", "\u2003", "\u0085", "É", "ß", "İ", "Σ", "ΣΑΣ", "ǅ", "张伟", "例子.中国", "１２３", "٣",
           "\U0001F4DE", "\U0001D400", "tel:", "(010)", "138", "6552-9988", "+86 ", "0086 ", "x123"])


def _random_values(count: int, seed: int = 7) -> list[str | None]:
    rnd = random.Random(seed)
    values: list[str | None] = ["", " ", "0", "00", "+", "+0", "000", "@", "@gmail.com", ".@gmail.com", None]
    for _ in range(count):
        values.append("".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 9))))
    return values


def test_jvm_and_expression_engines_agree(spark: SparkSession) -> None:
    """The Java normalizers (jvm/udf) and the expression path give the same text and hash on 3,000 random
    and edge values and on every vector input, for every profile and kind."""
    from pyspark.sql import functions as F

    from tagfactory.exports import hashing

    _engine(spark, "jvm")
    values = _random_values(3_000) + [v["input"] for v in DATA["vectors"]]
    frame = _inputs(spark, values)
    columns = [F.col("v")]
    for name in PROFILE_NAMES:
        for kind in KINDS:
            for engine in ENGINES:
                columns += [hashing.normalize(F.col("v"), name, kind, engine).alias(f"{name}|{kind}|{engine}|n"),  # type: ignore[arg-type]
                            hashing.hash_column(F.col("v"), name, kind, engine).alias(f"{name}|{kind}|{engine}|h")]  # type: ignore[arg-type]
    result = frame.select(*columns)
    _no_python_udf(result)
    plan = result._jdf.queryExecution().executedPlan().toString()
    assert "tagfactory_normalize_email" in plan and "tagfactory_normalize_phone" in plan, plan
    rows = result.collect()
    assert len(rows) == len(values)
    disagree = []
    for row in rows:
        for name in PROFILE_NAMES:
            for kind in KINDS:
                for part in ("n", "h"):
                    jvm, expr = row[f"{name}|{kind}|jvm|{part}"], row[f"{name}|{kind}|expressions|{part}"]
                    if jvm != expr:
                        disagree.append((name, kind, part, row["v"], jvm, expr))
    assert not disagree, disagree[:10]
    # the random values exercise the rules: some normalize to null, some differ per profile
    normalized = {r["google_cn_v1|phone|jvm|n"] for r in rows}
    assert None in normalized and any(v and v.startswith("+86") for v in normalized)
    assert any(r["google_v1|email|jvm|n"] != r["raw_v1|email|jvm|n"] for r in rows)


def test_mask_vectors(spark: SparkSession) -> None:
    from pyspark.sql import functions as F

    from tagfactory.exports.hashing import mask

    for kind in KINDS:
        cases = [m for m in DATA["mask"] if m["kind"] == kind]
        result = _inputs(spark, [m["input"] for m in cases]).select("i", mask(F.col("v"), kind).alias("m"))
        _no_python_udf(result)
        got = {r["i"]: r["m"] for r in result.collect()}
        assert [got[i] for i in range(len(cases))] == [m["masked"] for m in cases]


def test_treat_dispatches_and_refuses_unknown_treatments(spark: SparkSession) -> None:
    from pyspark.sql import functions as F

    from tagfactory.exports.hashing import UnknownTreatmentError, treat

    frame = spark.createDataFrame([(" Ann.Lee@Gmail.com ", "138 1234 5678")], "email string, phone string")
    row = frame.select(
        treat(F.col("email"), "keep", "email").alias("keep"),
        treat(F.col("email"), "mask", "email").alias("mask"),
        treat(F.col("email"), "hash:google_v1", "email").alias("google"),
        treat(F.col("email"), " hash: meta_v1 ", "email").alias("meta"),
        treat(F.col("phone"), "hash:google_cn_v1", "phone").alias("phone"),
    ).first()
    assert row is not None
    assert row["keep"] == " Ann.Lee@Gmail.com "
    assert row["mask"] == "A***@Gmail.com"
    assert row["google"] == ref_sha256("annlee@gmail.com")
    assert row["meta"] == ref_sha256("ann.lee@gmail.com")
    assert row["phone"] == ref_sha256("+8613812345678")

    with pytest.raises(UnknownHashProfileError, match="did you mean `meta_v1`"):
        treat(F.col("email"), "hash:meta_v2", "email")
    with pytest.raises(UnknownTreatmentError, match="did you mean `mask`") as caught:
        treat(F.col("email"), "masked", "email")
    assert isinstance(caught.value, ConfigError)
    with pytest.raises(UnknownTreatmentError, match="leave the column out"):
        treat(F.col("email"), "drop", "email")
    with pytest.raises(ValueError, match="value kind"):
        treat(F.col("email"), "mask", "mail")  # type: ignore[arg-type]


def test_nulls_blanks_and_non_string_columns(spark: SparkSession) -> None:
    from pyspark.sql import functions as F

    from tagfactory.exports.hashing import hash_column, mask

    frame = spark.createDataFrame([(None, None, 13812345678), ("", " \u3000", None), ("\t", "000", 8613800138000)],
                                  "email string, phone string, phone_number bigint")
    result = frame.select(
        *[hash_column(F.col("email"), n, "email").alias(f"e_{n}") for n in PROFILE_NAMES],
        hash_column(F.col("phone"), "meta_v1", "phone").alias("p_meta"),
        hash_column(F.lit(None), "raw_v1", "other").alias("untyped"),
        hash_column(F.col("phone_number"), "google_cn_v1", "phone").alias("number"),
        mask(F.col("email"), "email").alias("masked"),
    ).collect()
    for row in result:
        assert all(row[f"e_{n}"] is None for n in PROFILE_NAMES)  # never sha256("")
        assert row["p_meta"] is None and row["untyped"] is None and row["masked"] is None
    # a bigint phone is cast to its digits; an international number stays as it is
    assert [r["number"] for r in result] == [ref_sha256("+8613812345678"), None, ref_sha256("+868613800138000")]


def _demo_users(spark: SparkSession, demo_data: Path) -> DataFrame:
    return spark.read.parquet(str(demo_data / "users")).select("user_id", "email", "phone")


def test_demo_users_hash_to_hex_only_and_match_the_reference(spark: SparkSession, demo_data: Path) -> None:
    from pyspark.sql import functions as F

    from tagfactory.exports.hashing import hash_column, mask

    users = _demo_users(spark, demo_data)
    columns = [F.col("email"), F.col("phone")]
    for name in PROFILE_NAMES:
        columns += [hash_column(F.col("email"), name, "email").alias(f"{name}_email"),
                    hash_column(F.col("phone"), name, "phone").alias(f"{name}_phone")]
    columns += [mask(F.col("email"), "email").alias("mask_email"), mask(F.col("phone"), "phone").alias("mask_phone")]
    result = users.select(*columns)
    _no_python_udf(result)
    rows = result.collect()
    assert len(rows) > 2_000
    assert any(r["email"] is None for r in rows) and any(r["email"] is not None for r in rows)
    # the patterns recognise every source value, so not matching them means something
    assert all(EMAIL_LIKE.fullmatch(r["email"]) for r in rows if r["email"] is not None)
    assert all(PHONE_LIKE.fullmatch(r["phone"]) for r in rows if r["phone"] is not None)
    hashed = [c for c in result.columns if c.endswith(("_email", "_phone")) and not c.startswith("mask")]
    for row in rows:
        for column in hashed:
            value = row[column]
            source = row["email"] if column.endswith("_email") else row["phone"]
            assert (value is None) == (source is None), (column, source)
            if value is not None:
                assert HEX64.fullmatch(value), value
                assert not EMAIL_LIKE.fullmatch(value) and not PHONE_LIKE.fullmatch(value), (column, value)
            name, kind = column.rsplit("_", 1)
            assert value == ref_sha256(ref_normalize(name, kind, source)), (column, source)
        for column, kind in (("mask_email", "email"), ("mask_phone", "phone")):
            source = row[kind]
            assert row[column] == ref_mask(kind, source)
            if source is not None:
                assert source not in row[column] and not PHONE_LIKE.fullmatch(row[column])
    sources = ({r["email"] for r in rows} | {r["phone"] for r in rows}) - {None}
    assert not sources & {r[c] for r in rows for c in hashed}, "a hashed value equals a source value"
    # the demo phones are Chinese mobile numbers without country code: the _cn profiles add +86
    sample = next(r for r in rows if r["phone"])
    assert re.fullmatch(r"1[358]\d{9}", sample["phone"])
    assert sample["google_cn_v1_phone"] == ref_sha256("+86" + sample["phone"])
    assert sample["meta_cn_v1_phone"] == ref_sha256("86" + sample["phone"])
