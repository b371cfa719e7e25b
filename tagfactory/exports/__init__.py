"""Exports: what leaves the lakehouse (file drops, Hive tables; Kafka and Excel later). See docs/exports.md."""
