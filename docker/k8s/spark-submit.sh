#!/usr/bin/env bash
# Spark on Kubernetes with spark-submit (cluster mode): the daily profile build of one date, in the job
# image (docker/job/Dockerfile), as the service account of docker/k8s/rbac.yaml, with the data volume and
# the settings of docker/k8s/storage.yaml and the secrets of the tagfactory-secrets Secret.
#
#   K8S_API_SERVER=https://kubernetes.example:6443 TAGFACTORY_JOB_IMAGE=registry.example/tagfactory-job:0.1.0 \
#     docker/k8s/spark-submit.sh 2026-11-24 [--step check-sources|stage|audit|publish]
#
# Runs from any machine with the project installed (spark-submit of the pyspark wheel: .venv/bin) or
# inside the job image. Secrets are never on this command line: the pods get them from the Secret
# (spark.kubernetes.{driver,executor}.secretKeyRef.ENV=secret:key); Kubernetes credentials come from
# your kubeconfig (or spark.kubernetes.authenticate.submission.* options).
set -euo pipefail

SNAPSHOT_DATE="${1:?usage: spark-submit.sh YYYY-MM-DD [job options]}"
shift
: "${K8S_API_SERVER:?set K8S_API_SERVER (https://host:port of the Kubernetes API)}"
IMAGE="${TAGFACTORY_JOB_IMAGE:-tagfactory-job:0.1.0}"
NAMESPACE="${TAGFACTORY_NAMESPACE:-tagfactory}"
JARS=/opt/tagfactory/jars/spark   # inside the image (resolved by jvm/resolve.py at build time)
SETTINGS=(TAGFACTORY_WAREHOUSE TAGFACTORY_SOURCES_ROOT TAGFACTORY_EXPORTS_ROOT TAGFACTORY_HIVE_LOCATION_ROOT
          TAGFACTORY_HIVE_METASTORE_URI TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS OPENLINEAGE_URL)
# the non-secret settings: the same values as the tagfactory-settings ConfigMap (storage.yaml)
declare -A VALUES=(
  [TAGFACTORY_WAREHOUSE]=/data/warehouse
  [TAGFACTORY_SOURCES_ROOT]=/data/sources
  [TAGFACTORY_EXPORTS_ROOT]=/data/deliveries
  [TAGFACTORY_HIVE_LOCATION_ROOT]=/data/hive
  [TAGFACTORY_HIVE_METASTORE_URI]=thrift://hive-metastore.tagfactory.svc:9083
  [TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS]=kafka-bootstrap.kafka.svc:9093
  [OPENLINEAGE_URL]=http://marquez.lineage.svc:5000
)
ENV_CONF=()
for name in "${SETTINGS[@]}"; do
  value="${!name:-${VALUES[$name]}}"   # an exported variable of the same name wins
  ENV_CONF+=(--conf "spark.kubernetes.driverEnv.${name}=${value}" --conf "spark.executorEnv.${name}=${value}")
done
# secrets: from the Secret tagfactory-secrets into the driver's environment (the executors need none)
SECRETS=(
  --conf spark.kubernetes.driver.secretKeyRef.TAGFACTORY_KAFKA_SASL_USERNAME=tagfactory-secrets:kafka-sasl-username
  --conf spark.kubernetes.driver.secretKeyRef.TAGFACTORY_KAFKA_SASL_PASSWORD=tagfactory-secrets:kafka-sasl-password
  --conf spark.kubernetes.driver.secretKeyRef.OPENLINEAGE_API_KEY=tagfactory-secrets:openlineage-api-key
)

exec spark-submit \
  --master "k8s://${K8S_API_SERVER}" \
  --deploy-mode cluster \
  --name "tagfactory-build-profile-${SNAPSHOT_DATE}" \
  --conf spark.kubernetes.namespace="${NAMESPACE}" \
  --conf spark.kubernetes.container.image="${IMAGE}" \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName=tagfactory-spark \
  --conf spark.executor.instances=2 \
  --conf spark.executor.cores=2 \
  --conf spark.executor.memory=4g \
  --conf spark.driver.memory=2g \
  --conf spark.driver.extraClassPath="${JARS}/*" \
  --conf spark.executor.extraClassPath="${JARS}/*" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.legacy.parameterSubstitution.constantsOnly=true \
  --conf spark.pyspark.python=/opt/tagfactory/venv/bin/python \
  --conf spark.kubernetes.driver.volumes.persistentVolumeClaim.data.options.claimName=tagfactory-data \
  --conf spark.kubernetes.driver.volumes.persistentVolumeClaim.data.mount.path=/data \
  --conf spark.kubernetes.executor.volumes.persistentVolumeClaim.data.options.claimName=tagfactory-data \
  --conf spark.kubernetes.executor.volumes.persistentVolumeClaim.data.mount.path=/data \
  "${ENV_CONF[@]}" \
  "${SECRETS[@]}" \
  local:///opt/tagfactory/app/jobs/build_profile.py \
  --manifest /opt/tagfactory/app/target/manifest.json \
  --date "${SNAPSHOT_DATE}" \
  "$@"
