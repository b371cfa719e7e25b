"""Audiences and scenes: checks with YAML locations, and compilation to Spark SQL.

A rule tree compiles to one boolean Spark SQL condition over the profile snapshot's columns
(two-valued: a condition on a null value is false, see docs/audiences.md); references to other
rule audiences are inlined (by the reference each ``include`` / ``exclude`` node carries, see
:func:`references.resolve_tree`), references to list and SQL audiences read the per-key array
column ``_ext`` (the external memberships the job joins in). :mod:`compiler.audience_pass`
compiles every audience's condition into ONE query over the profile snapshot.

Modules (import from the one that defines a name; this package re-exports nothing):

* :mod:`.check` — ``check_audiences``: every audience and scene of a definitions folder;
* :mod:`.model` — ``CompiledAudience``, ``AudienceSet``, the ``_ext`` lookup and reference mark;
* :mod:`.context` — the state of checking one audience (where problems are reported);
* :mod:`.rules` — rule trees to sqlglot conditions (operators, values, references);
* :mod:`.uploaded` — list audiences (the uploaded list file, read at compile time);
* :mod:`.sql` — SQL audiences (what they may read; sources cut to the point in time);
* :mod:`.references` — reference cycles, build order, inlining (``resolve_tree``);
* :mod:`.scenes` — scene checks.
"""
