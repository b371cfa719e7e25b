"""Endpoints and credentials a deployment sets as environment variables (tagfactory/settings.py ENV_FIELDS).

The container stack and the Kubernetes examples (docker/) configure every job through these variables;
the values never come from a definition or a file in an image.
"""

from __future__ import annotations

import pytest

from tagfactory.settings import ENV_FIELDS, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No settings file and none of the TAGFACTORY_* variables `make test` exports."""
    monkeypatch.delenv("TAGFACTORY_CONFIG", raising=False)
    for name in ENV_FIELDS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_spark_master_metastore_and_kafka_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TAGFACTORY_SPARK_MASTER", "spark://spark-master:7077")
    clean_env.setenv("TAGFACTORY_HIVE_METASTORE_URI", "thrift://hive-metastore:9083")
    clean_env.setenv("TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    clean_env.setenv("TAGFACTORY_KAFKA_SASL_USERNAME", "tagfactory")
    clean_env.setenv("TAGFACTORY_KAFKA_SASL_PASSWORD", "from-a-secret")
    clean_env.setenv("TAGFACTORY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("TAGFACTORY_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    settings = load_settings()
    assert settings.spark.master == "spark://spark-master:7077"
    assert settings.hive.metastore_uri == "thrift://hive-metastore:9083"
    assert settings.kafka.client_config() == {
        "bootstrap.servers": "kafka:9092", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "tagfactory", "sasl.password": "from-a-secret"}


def test_hdfs_and_s3_locations_and_the_s3_endpoint(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TAGFACTORY_WAREHOUSE", "hdfs://namenode:8020/tagfactory/warehouse")
    clean_env.setenv("TAGFACTORY_SOURCES_ROOT", "s3a://lake/raw")
    clean_env.setenv("TAGFACTORY_S3_ENDPOINT", "http://minio:9000")
    settings = load_settings()
    assert settings.warehouse == "hdfs://namenode:8020/tagfactory/warehouse"
    assert settings.source_uri("orders") == "s3a://lake/raw/orders"
    assert settings.spark.conf == {"spark.hadoop.fs.s3a.endpoint": "http://minio:9000"}


def test_environment_merges_into_the_settings_file(clean_env: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "settings.yaml"
    config.write_text("spark:\n  conf:\n    spark.sql.shuffle.partitions: '8'\n"
                      "kafka:\n  client:\n    security.protocol: SSL\n    ssl.ca.location: /etc/ca.pem\n")
    clean_env.setenv("TAGFACTORY_S3_ENDPOINT", "http://minio:9000")
    clean_env.setenv("TAGFACTORY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    settings = load_settings(config)
    assert settings.spark.conf == {"spark.sql.shuffle.partitions": "8", "spark.hadoop.fs.s3a.endpoint": "http://minio:9000"}
    assert settings.kafka.client == {"security.protocol": "SASL_SSL", "ssl.ca.location": "/etc/ca.pem"}


def test_empty_variables_are_unset(clean_env: pytest.MonkeyPatch) -> None:
    """docker/compose.yaml passes ``${TAGFACTORY_KAFKA_SASL_PASSWORD:-}``: empty means no credentials."""
    clean_env.setenv("TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    clean_env.setenv("TAGFACTORY_KAFKA_SASL_USERNAME", "")
    clean_env.setenv("TAGFACTORY_KAFKA_SASL_PASSWORD", "")
    assert load_settings().kafka.client_config() == {"bootstrap.servers": "kafka:9092"}
