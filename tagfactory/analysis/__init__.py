"""Effect analysis (issue 19): did a scene work? Spark aggregates (``aggregate``), the driver compares
(``arms``, ``driver`` on top of :mod:`tagfactory.effects`), ``job`` runs one as-of date, ``report`` prints.
See docs/effects.md and tagfactory/effects/README.md (the sufficient-statistics contract)."""
