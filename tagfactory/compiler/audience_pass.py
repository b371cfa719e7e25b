"""Compile the one-pass audience query: every audience of an entity in ONE query over the snapshot.

The job registers the day's profile snapshot as the temp view :data:`INPUT_VIEW` (the key cast to
a string, plus the ``_ext`` array of list and SQL memberships) and runs the compiled text with
``spark.sql(entity.audiences_sql, args={"snapshot_date": date})``, as the profile job runs
``entity.sql``. Shape of the query (``:snapshot_date`` stays a parameter)::

    SELECT /*+ BROADCAST(d) */ EXPLODE(d._names) AS audience, b.<key>
    FROM (SELECT <key>, POSEXPLODE_OUTER(_words) AS (_word, _value)
          FROM (SELECT <key>, ARRAY(IF(<c0>, 1, 0) | IF(<c1>, 2, 0) | ..., ...) AS _words
                FROM audience_input) AS p) AS b
    JOIN VALUES (0, 1, ARRAY('a0')), (0, 2, ARRAY('a1')), (0, 3, ARRAY('a0', 'a1')), ...
         AS d(_word, _value, _names)
      ON b._word = d._word AND b._value = d._value
    WHERE b._value <> 0

1. one projection evaluates every condition and packs the results into small integer words,
   :data:`WORD_BITS` audiences per word (a condition on null is false: ``IF`` takes the 0);
2. each row's non-zero words are exploded (``POSEXPLODE_OUTER``, then ``_value <> 0``: Spark
   cannot infer a ``size(array(...)) > 0`` filter from it that would evaluate every condition a
   second time) and decoded into audience names by a broadcast join with the inline
   (word, value) -> names table, so only member rows are ever produced.

An inline ``VALUES`` table is a local relation built in the JVM (a DataFrame of Python rows would
be a Python RDD, whose broadcast starts Python workers first). The decode table, the generators
and the hint are compiler-made: :func:`tagfactory.compiler.sqlpolicy.check_compiled` allows them
in this query only (``one_pass=True``), never in definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from tagfactory.compiler.audience.model import ext_lookup
from tagfactory.compiler.sqlbuild import col, func, to_sql
from tagfactory.compiler.sqlpolicy import check_compiled

INPUT_VIEW = "audience_input"
# audiences packed per integer word (2^4 - 1 decode rows per word); measured on
# benchmarks/audiences_100.py: 4 is as fast as 8 or 2 in the condition stage and keeps the decode
# table small (375 rows for 100 audiences)
WORD_BITS = 4
WORDS, WORD, VALUE, NAMES, AUDIENCE = "_words", "_word", "_value", "_names", "audience"
PACKED, BITS, DECODE = "p", "b", "d"


@dataclass(frozen=True)
class PassAudience:
    """One audience of the pass: its name and resolved condition (None: a list or SQL audience,
    whose membership is the ``_ext`` lookup)."""

    name: str
    condition: exp.Expr | None = None


def words(audiences: Sequence[PassAudience]) -> list[list[PassAudience]]:
    """The audiences of each word, in order (word ``w`` holds bits 0.. of ``WORD_BITS``)."""
    return [list(audiences[i:i + WORD_BITS]) for i in range(0, len(audiences), WORD_BITS)]


def decode_rows(names: Sequence[str]) -> list[tuple[int, int, list[str]]]:
    """(word, value, names) for every non-zero value of every word: the names of its set bits."""
    rows = []
    for word, start in enumerate(range(0, len(names), WORD_BITS)):
        chunk = names[start:start + WORD_BITS]
        for value in range(1, 1 << len(chunk)):
            rows.append((word, value, [n for bit, n in enumerate(chunk) if value >> bit & 1]))
    return rows


def pass_query(key: str, audiences: Sequence[PassAudience]) -> exp.Select:
    """The one-pass query of ``audiences`` (``(audience, key)`` rows) over :data:`INPUT_VIEW`."""
    packed_words = []
    for chunk in words(audiences):
        terms = [exp.If(this=(a.condition.copy() if a.condition is not None else ext_lookup(a.name)),
                        true=exp.Literal.number(1 << bit), false=exp.Literal.number(0))
                 for bit, a in enumerate(chunk)]
        word: exp.Expr = terms[0]
        for term in terms[1:]:
            word = exp.BitwiseOr(this=word, expression=term)
        packed_words.append(word)
    packed = (exp.select(col(key), exp.alias_(exp.Array(expressions=packed_words), WORDS))
              .from_(INPUT_VIEW))
    exploded = exp.Aliases(this=func("posexplode_outer", col(WORDS)),
                           expressions=[exp.to_identifier(WORD), exp.to_identifier(VALUE)])
    bits = exp.select(col(key), exploded).from_(packed.subquery(PACKED))
    table = exp.Values(
        expressions=[exp.Tuple(expressions=[exp.Literal.number(w), exp.Literal.number(v),
                                            exp.Array(expressions=[exp.Literal.string(n) for n in names])])
                     for w, v, names in decode_rows([a.name for a in audiences])],
        alias=exp.TableAlias(this=exp.to_identifier(DECODE),
                             columns=[exp.to_identifier(c) for c in (WORD, VALUE, NAMES)]))
    on = exp.and_(exp.EQ(this=col(WORD, BITS), expression=col(WORD, DECODE)),
                  exp.EQ(this=col(VALUE, BITS), expression=col(VALUE, DECODE)))
    query = (exp.select(exp.alias_(func("explode", col(NAMES, DECODE)), AUDIENCE), col(key, BITS))
             .from_(bits.subquery(BITS))
             .join(table, on=on)
             .where(exp.NEQ(this=col(VALUE, BITS), expression=exp.Literal.number(0))))
    hint = exp.JoinHint(this="BROADCAST", expressions=[exp.to_table(DECODE)])
    query.set("hint", exp.Hint(expressions=[hint]))
    return query


def compile_pass(entity: str, key: str, audiences: Sequence[PassAudience]) -> str | None:
    """The checked Spark SQL of the one pass (None when the entity has no audiences).

    Raises:
        PolicyError: the query holds anything the SQL policy refuses (a compiler bug).
    """
    if not audiences:
        return None
    query = pass_query(key, audiences)
    check_compiled(query, {INPUT_VIEW}, f"the audiences of entity `{entity}`", one_pass=len(audiences))
    return to_sql(query)
