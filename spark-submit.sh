#!/usr/bin/env bash
# Run a sendopt job with spark-submit: ./spark-submit.sh <job> [sendopt args...]
#
# Packages the sendopt code for the executors (--py-files dist/sendopt.zip) and submits
# jobs/<job>.py. Locally it uses the spark-submit that ships with pyspark in .venv.
#
#   ./spark-submit.sh generate-world --set world.users=1000
#
# Locally, when `make jars` has fetched jars/pom.xml's jars into jars/lib/, they go on the classpath
# (--jars, their Python wrappers with --py-files) with Delta's extension and catalog, so e.g.
#   ./spark-submit.sh generate-world --set lake.backend=spark_delta --set world.users=1000
# writes through Spark's Delta. Without jars/lib it submits as before (embedded lake, barrier trainer).
#
# On a cluster (see README "Running on a cluster"), e.g. YARN with Delta and SynapseML from Maven:
#   SPARK_SUBMIT=spark-submit \
#   SPARK_SUBMIT_ARGS="--master yarn --deploy-mode client \
#     --packages io.delta:delta-spark_2.12:3.3.3,com.microsoft.azure:synapseml-lightgbm_2.12:1.1.3 \
#     --exclude-packages org.scala-lang:scala-reflect,org.apache.spark:spark-tags_2.12 \
#     --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
#     --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog" \
#   ./spark-submit.sh daily --env cluster
# or, where the cluster cannot reach Maven, ship the same pinned jars: SPARK_SUBMIT_ARGS="--master yarn
#   --jars $(ls jars/lib/*.jar | paste -sd,) --conf spark.sql.extensions=… --conf spark.sql.catalog…=…"
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ]; then
  echo "usage: $0 <job> [args...]   jobs: $(ls jobs | sed 's/\.py$//; s/_/-/g' | tr '\n' ' ')" >&2
  exit 2
fi
job="$1"; shift
script="jobs/${job//-/_}.py"
[ -f "$script" ] || { echo "unknown job '$job' (no $script)" >&2; exit 2; }

PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
SPARK_SUBMIT="${SPARK_SUBMIT:-$( [ -x .venv/bin/spark-submit ] && echo .venv/bin/spark-submit || echo spark-submit )}"

mkdir -p dist
"$PY" - <<'PYEOF'
import pathlib, zipfile
with zipfile.ZipFile("dist/sendopt.zip", "w", zipfile.ZIP_DEFLATED) as zf:
    for path in sorted(pathlib.Path("sendopt").rglob("*.py")):
        zf.write(path)
PYEOF

export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PWD/$PY}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PWD/$PY}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

PY_FILES=dist/sendopt.zip
LOCAL_JARS=()
if [ -z "${SPARK_SUBMIT_ARGS:-}" ] && compgen -G "jars/lib/*.jar" >/dev/null; then
  jars=$(ls "$PWD"/jars/lib/*.jar | paste -sd, -)
  wrappers=$(ls "$PWD"/jars/lib/delta-spark_*.jar "$PWD"/jars/lib/synapseml-*.jar 2>/dev/null | paste -sd, -)
  [ -n "$wrappers" ] && PY_FILES="$PY_FILES,$wrappers"
  LOCAL_JARS=(--jars "$jars"
    --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
    --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog)
fi

# shellcheck disable=SC2086
exec "$SPARK_SUBMIT" \
  --name "sendopt-$job" \
  --py-files "$PY_FILES" \
  "${LOCAL_JARS[@]}" \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.sql.execution.arrow.pyspark.enabled=true \
  ${SPARK_SUBMIT_ARGS:---master local[*] --driver-memory 6g} \
  "$script" --conf-dir "$PWD/conf" "$@"
