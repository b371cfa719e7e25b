"""The function allow-list for SQL written in definitions.

Only Spark SQL built-in functions named here may appear in expressions and ``sql`` tags. Anything
else is an error: user-defined functions (which could run arbitrary JVM or Python code), JVM
reflection, functions that read files or session state, and functions whose result changes from
run to run (a re-run of a snapshot must give the same values).

The list was taken from ``SHOW FUNCTIONS`` of Spark 4.2 and reduced by the ``DENIED`` groups
below. Families left out for now (sketches other than HLL, vectors, geospatial, XPath, the TIME
type) are rejected like unknown names; adding one is a reviewed one-line change here. A function
Spark adds later is rejected until someone adds it on purpose.
"""

from __future__ import annotations

import re

from sqlglot import exp

# Denied on purpose, with the reason shown to the user.
DENIED: dict[str, str] = {}
for _names, _reason in (
    ("reflect java_method try_reflect", "calls arbitrary JVM methods"),
    ("input_file_name input_file_block_start input_file_block_length read_files",
     "reads file metadata or files outside the declared sources"),
    ("current_user session_user user current_catalog current_database current_schema current_path "
     "version current_timezone", "depends on the session, not on the data"),
    ("now current_date current_timestamp current_time curdate localtimestamp unix_timestamp",
     "depends on the wall clock; use `snapshot_date` so re-runs give the same values "
     "(for epoch seconds of a timestamp use to_unix_timestamp(ts))"),
    ("rand randn random randstr uniform uuid shuffle monotonically_increasing_id spark_partition_id",
     "gives a different value on every run"),
    ("assert_true raise_error python_worker_logs", "aborts or reaches into the runtime"),
    ("aes_encrypt aes_decrypt try_aes_decrypt", "needs a key, and secrets never live in definitions"),
    ("from_avro to_avro from_protobuf to_protobuf schema_of_avro",
     "needs external schema descriptors"),
    ("window session_window window_time", "is for streaming time windows; use `window:` on aggregate tags"),
):
    for _name in _names.split():
        DENIED[_name] = _reason

ALLOWED = frozenset("""
abs acos acosh add_months aggregate any any_value approx_count_distinct approx_percentile
approx_top_k array array_agg array_append array_compact array_contains array_distinct array_except
array_insert array_intersect array_join array_max array_min array_position array_prepend
array_remove array_repeat array_size array_sort array_union arrays_overlap arrays_zip ascii asin
asinh atan atan2 atanh avg base64 between bigint bin binary bit_and bit_count bit_get bit_length
bit_or bit_xor bool_and bool_or boolean bround btrim cardinality case cast cbrt ceil ceiling char
char_length character_length chr coalesce collect_list collect_set concat concat_ws contains conv
convert_timezone corr cos cosh cot count count_if covar_pop covar_samp crc32 csc cume_dist date
date_add date_diff date_format date_from_unix_date date_part date_sub date_trunc dateadd datediff
datepart day dayname dayofmonth dayofweek dayofyear decimal decode degrees dense_rank div double e
element_at elt encode endswith equal_null every exists exp explode explode_outer expm1 extract
factorial filter find_in_set first first_value flatten float floor forall format_number
format_string from_csv from_json from_unixtime from_utc_timestamp get get_json_object getbit
greatest grouping grouping_id hash hex histogram_numeric hypot if ifnull ilike in initcap inline
inline_outer instr int is_valid_utf8 isnan isnotnull isnull json_array_length json_object_keys
json_tuple kurtosis lag last last_day last_value lcase lead least left len length levenshtein like
listagg ln locate log log10 log1p log2 lower lpad ltrim luhn_check make_date make_dt_interval
make_interval make_timestamp make_timestamp_ltz make_timestamp_ntz make_ym_interval map map_concat
map_contains_key map_entries map_filter map_from_arrays map_from_entries map_keys map_values
map_zip_with mask max max_by md5 mean median min min_by minute mod mode month monthname
months_between named_struct nanvl negative next_day not nth_value ntile nullif nullifzero nvl nvl2
octet_length overlay parse_url percent_rank percentile percentile_approx percentile_cont
percentile_disc pi pmod posexplode posexplode_outer position positive pow power printf quarter
radians rank reduce regexp regexp_count regexp_extract regexp_extract_all regexp_instr regexp_like
regexp_replace regexp_substr regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope
regr_sxx regr_sxy regr_syy repeat replace reverse right rint rlike round row_number rpad rtrim sec
second sentences sequence sha sha1 sha2 shiftleft shiftright shiftrightunsigned sign signum sin
sinh size skewness slice smallint some sort_array soundex space split split_part sqrt stack
startswith std stddev stddev_pop stddev_samp str_to_map string string_agg struct substr substring
substring_index sum tan tanh timestamp timestamp_micros timestamp_millis timestamp_seconds tinyint
to_binary to_char to_csv to_date to_json to_number to_timestamp to_timestamp_ltz to_timestamp_ntz
to_unix_timestamp to_utc_timestamp to_varchar transform transform_keys transform_values translate
trim trunc try_add try_avg try_cast try_divide try_element_at try_make_interval try_make_timestamp
try_mod try_multiply try_subtract try_sum try_to_binary try_to_date try_to_number try_to_timestamp
try_url_decode typeof ucase unbase64 unhex unix_date unix_micros unix_millis unix_seconds upper
url_decode url_encode var_pop var_samp variance weekday weekofyear when width_bucket xxhash64 year
zeroifnull zip_with
hour quote try_make_timestamp_ltz try_make_timestamp_ntz try_parse_url validate_utf8 try_validate_utf8
make_valid_utf8 parse_json try_parse_json variant_get try_variant_get is_variant_null is_valid_variant
hll_sketch_agg hll_sketch_estimate hll_union hll_union_agg
""".split())

# sqlglot nodes that are operators or syntax rather than named functions.
SYNTAX: tuple[type[exp.Expr], ...] = (exp.Binary, exp.Unary, exp.Connector, exp.Case, exp.Cast)
_LEADING_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def spark_names(func: exp.Func) -> list[str]:
    """Every name a function node may stand for, lower-case.

    sqlglot maps many spellings to one node (``nvl`` and ``ifnull`` parse as ``Coalesce``); the
    node's own names and its Spark rendering are all candidates.
    """
    if isinstance(func, exp.Anonymous):
        return [str(func.name).lower()]
    names = [n.lower() for n in func.sql_names()]
    match = _LEADING_NAME.match(func.sql(dialect="spark"))
    if match:
        names.append(match.group(1).lower())
    if not match and not names:
        names.append(func.key)
    return list(dict.fromkeys(names))


def function_verdict(func: exp.Func, names: list[str] | None = None) -> tuple[str, str] | None:
    """``None`` when the function is allowed, else ``(name, reason)`` (``names``: its :func:`spark_names`)."""
    if isinstance(func, SYNTAX):
        return None
    names = spark_names(func) if names is None else names
    for name in names:
        if name in DENIED:
            return name, DENIED[name]
    if any(name in ALLOWED for name in names):
        return None
    if not isinstance(func, exp.Anonymous) and not _LEADING_NAME.match(func.sql(dialect="spark")):
        # keyword syntax sqlglot models as a function (e.g. INTERVAL parts): not a call
        return None
    return names[-1], "is not a Spark built-in on the allow-list (user-defined functions are not allowed)"
