"""No credential is written into the repository's definitions, settings examples or deployment files.

Secrets reach a run only from the environment (``TAGFACTORY_KAFKA_SASL_PASSWORD`` ...; docker/.env for
the compose stack), Kubernetes Secrets (``secretKeyRef``) or Airflow connections. This test reads the tag
definitions, the settings examples (docker/conf/, docker/.env.example, any settings*.yaml), the compose
and Kubernetes files, the docs and the READMEs, and fails on anything that looks like a credential:
a password / secret / token / key assignment with a literal value, credentials inside a URL, AWS
access key ids, private keys, well-known token formats. ``${VAR}`` / ``$VAR`` references, empty values,
``<placeholders>`` and ``secretKeyRef`` lines are allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.definitions import REPO

#: what is read: definitions, deployment files, docs, and settings examples wherever they are
SCANNED = ("tag_definitions", "docker", "docs", "dags", "jobs", "jvm")
TOP_LEVEL = ("README.md", "Makefile", "setup.cfg", "pyproject.toml")
SKIPPED_PARTS = {"__pycache__", ".git", "node_modules"}

_KEY = r"[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|jaas\.config)"
ASSIGNMENT = re.compile(rf"(?i)(?<![\w.${{-])[\"']?({_KEY})[\"']?\s*(?::|=|:=)\s*(?P<value>.*)$")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"'`]+:(?P<value>[^@\s/\"'`]+)@")
LITERAL_SECRETS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
    "authorization header": re.compile(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic)\s+[A-Za-z0-9+/=._-]{8,}"),
}


def is_reference(value: str) -> bool:
    """An empty value, ``${VAR}`` / ``$VAR``, a ``<placeholder>``, null, or code/prose rather than a literal."""
    value = value.strip().rstrip(",;").strip().strip("\"'`").strip()
    if value in ("", "null", "None", "~", "[]", "{}", "true", "false"):
        return True
    return bool(re.match(r"(?:\$\{?[A-Za-z_(]|<[^>]+>|\{\{|%\()", value))


def findings(text: str) -> list[str]:
    """What looks like a credential in ``text`` (one entry per line and kind)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if "secretKeyRef" in line:  # a reference to a Kubernetes Secret: name and key, never the value
            continue
        match = ASSIGNMENT.search(line)
        value = re.sub(r"\s+#.*$", "", match.group("value")) if match else ""  # a trailing comment is not the value
        if match and not is_reference(value) and not _is_prose(value):
            found.append(f"{number}: {match.group(1)} = {match.group('value').strip()[:40]}")
        for url in URL_CREDENTIALS.finditer(line):
            if not is_reference(url.group("value")):
                found.append(f"{number}: credentials in a URL")
        found.extend(f"{number}: {kind}" for kind, pattern in LITERAL_SECRETS.items() if pattern.search(line))
    return found


def _is_prose(value: str) -> bool:
    """A sentence or code after the key (docs: ``password: from TAGFACTORY_KAFKA_SASL_PASSWORD``), not a value."""
    value = value.strip()
    return (" " in value.strip("\"'") and not re.fullmatch(r"[\"'][^\"']*[\"']", value)) or value.startswith(
        ("str", "Field(", "os.environ", "settings.", "(", "|", ">"))


def scanned_files() -> list[Path]:
    files = [REPO / name for name in TOP_LEVEL if (REPO / name).is_file()]
    for folder in SCANNED:
        files.extend(p for p in sorted((REPO / folder).rglob("*")) if p.is_file() and not SKIPPED_PARTS & set(p.parts))
    examples = [p for p in REPO.rglob("settings*.y*ml") if ".venv" not in p.parts and "tests" not in p.parts]
    return sorted(set(files + examples))


def test_no_credentials_in_definitions_settings_and_deployment_files() -> None:
    problems = []
    read = 0
    for path in scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (Excel lists): nothing a person typed a secret into by hand
        read += 1
        problems.extend(f"{path.relative_to(REPO)}:{finding}" for finding in findings(text))
    assert read > 40 and (REPO / "docker" / "compose.yaml") in scanned_files()
    assert not problems, "looks like a credential (use ${VAR}, a Secret or an Airflow connection):\n" + "\n".join(problems)


@pytest.mark.parametrize("line", [
    "password: hunter2",
    "password: hunter2  # only for the local stack",
    "  sasl_password: 's3cr3t!'",
    "POSTGRES_PASSWORD=airflow",
    "AIRFLOW__API_AUTH__JWT_SECRET: 4f1c2a9e0b",
    '"api_key": "abcd1234efgh"',
    "kafka:\n  client:\n    sasl.jaas.config: org.apache.kafka.common.security.plain.PlainLoginModule",
    "sql_alchemy_conn: postgresql://airflow:airflow@postgres/airflow",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "-----BEGIN RSA PRIVATE KEY-----",
    "token: ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "Authorization: Bearer abcdefghijkl123",
])
def test_the_detector_flags_credentials(line: str) -> None:
    assert findings(line), line


@pytest.mark.parametrize("line", [
    "POSTGRES_PASSWORD: ${MARQUEZ_DB_PASSWORD:?set it in docker/.env}",
    "TAGFACTORY_KAFKA_SASL_PASSWORD: ${TAGFACTORY_KAFKA_SASL_PASSWORD:-}",
    "AIRFLOW_DB_PASSWORD=",
    "password: ${MARQUEZ_DB_PASSWORD}",
    "sql_alchemy_conn: postgresql+psycopg2://airflow:${AIRFLOW_DB_PASSWORD:?x}@postgres:5432/airflow",
    "  --conf spark.kubernetes.driver.secretKeyRef.TAGFACTORY_KAFKA_SASL_PASSWORD=tagfactory-secrets:kafka-sasl-password",
    '--from-literal=kafka-sasl-password="$KAFKA_SASL_PASSWORD"',
    "sasl_password: <from your secret store>",
    "sasl_password: str | None = Field(None)",
    "the password comes from TAGFACTORY_KAFKA_SASL_PASSWORD, never from a file",
])
def test_the_detector_allows_references(line: str) -> None:
    assert not findings(line), findings(line)
