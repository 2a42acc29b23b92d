#!/usr/bin/env bash
# A local Flink 1.18 session cluster on loopback for running the pipeline's
# Beam components on Flink (docs/flink.md):
#   scripts/flink_cluster.sh install   # fetch Flink and Beam's job server
#   scripts/flink_cluster.sh start [--no-job-server]
#   scripts/flink_cluster.sh status
#   scripts/flink_cluster.sh stop
# `start` brings up one JobManager, FLINK_TASKMANAGERS TaskManagers (default
# 2) and Beam's Flink job server as separate JVMs, each with a small heap, and
# waits until every TaskManager has registered. It and `stop` are idempotent:
# processes already running (by their pid files) are kept, dead ones are
# restarted; `stop` ends only the processes this script started.
#
# Flink's distribution comes from PyPI's apache-flink-libraries 1.18.1 sdist
# (its deps/lib is the distribution's lib/; Maven Central has no flink-dist
# artifact), downloaded with `pip download --no-deps` and never installed
# into a Python environment (apache-flink pins an older apache-beam). Beam's
# job server jar comes from Maven Central with `mvn dependency:copy`. Both go
# into FLINK_CACHE_DIR (default .cache/flink, gitignored).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FLINK_CACHE_DIR:-$ROOT/.cache/flink}
RUN=${FLINK_RUN_DIR:-$CACHE/run}
FLINK_VERSION=1.18.1
BEAM_VERSION=2.59.0
JOB_SERVER_ARTIFACT=org.apache.beam:beam-runners-flink-1.18-job-server:$BEAM_VERSION
JOB_SERVER_JAR=$CACHE/beam-runners-flink-1.18-job-server-$BEAM_VERSION.jar
FLINK_HOME=$CACHE/flink-$FLINK_VERSION
REST_PORT=${FLINK_REST_PORT:-8081}
RPC_PORT=${FLINK_RPC_PORT:-6123}
JOB_PORT=${BEAM_JOB_PORT:-8099}
ARTIFACT_PORT=${BEAM_ARTIFACT_PORT:-8098}
EXPANSION_PORT=${BEAM_EXPANSION_PORT:-8097}
TASKMANAGERS=${FLINK_TASKMANAGERS:-2}
SLOTS=${FLINK_TASK_SLOTS:-2}
JM_MEMORY=${FLINK_JM_MEMORY:-768m}
TM_MEMORY=${FLINK_TM_MEMORY:-1g}
JOB_SERVER_HEAP=${BEAM_JOB_SERVER_HEAP:-512m}

log() { echo "flink_cluster: $*" >&2; }

# The --add-opens Flink 1.18 needs on Java 17 (its default env.java.opts.all).
JAVA_17_OPTS=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

need_java() {
  command -v java >/dev/null 2>&1 || { log 'java not found (JDK 11 or 17 needed)'; exit 2; }
}

pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" "$ROOT/.venv/bin/python" python3; do
    [ -n "$candidate" ] && "$candidate" -m pip --version >/dev/null 2>&1 && {
      echo "$candidate"; return; }
  done
  log 'no Python with pip found to download Flink (make setup first)'; exit 2
}

install_flink() {
  [ -f "$FLINK_HOME/lib/flink-dist-$FLINK_VERSION.jar" ] && return
  local download=$CACHE/download sdist
  mkdir -p "$download"
  sdist=$download/apache-flink-libraries-$FLINK_VERSION.tar.gz
  if [ ! -f "$sdist" ]; then
    log "downloading apache-flink-libraries $FLINK_VERSION (230 MB) from PyPI"
    "$(pick_python)" -m pip download -q --no-deps --no-binary :all: \
      "apache-flink-libraries==$FLINK_VERSION" -d "$download"
  fi
  log "unpacking Flink $FLINK_VERSION into $FLINK_HOME"
  local tmp=$CACHE/unpack.$$
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xzf "$sdist" -C "$tmp" --wildcards \
    "apache-flink-libraries-$FLINK_VERSION/deps/lib/*" \
    "apache-flink-libraries-$FLINK_VERSION/deps/bin/*"
  rm -rf "$FLINK_HOME"
  mv "$tmp/apache-flink-libraries-$FLINK_VERSION/deps" "$FLINK_HOME"
  rm -rf "$tmp" "$sdist"
}

install_job_server() {
  [ -f "$JOB_SERVER_JAR" ] && return
  command -v mvn >/dev/null 2>&1 || { log 'mvn not found: it fetches the job server'; return 1; }
  log "fetching $JOB_SERVER_ARTIFACT with mvn dependency:copy"
  if ! mvn -q -B -U dependency:copy -Dartifact="$JOB_SERVER_ARTIFACT" \
      -DoutputDirectory="$CACHE" >"$CACHE/mvn.log" 2>&1; then
    log "could not fetch $JOB_SERVER_ARTIFACT (see $CACHE/mvn.log):"
    grep -m1 -o 'Unable to find artifact.*' "$CACHE/mvn.log" | cut -c1-240 >&2 ||
      tail -3 "$CACHE/mvn.log" >&2
    return 1
  fi
}

write_conf() {
  mkdir -p "$RUN/conf" "$RUN/log"
  cat >"$RUN/conf/flink-conf.yaml" <<EOF
# Written by scripts/flink_cluster.sh: a loopback-only session cluster.
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $RPC_PORT
jobmanager.bind-host: 127.0.0.1
jobmanager.memory.process.size: $JM_MEMORY
rest.address: localhost
rest.bind-address: 127.0.0.1
rest.port: $REST_PORT
taskmanager.host: localhost
taskmanager.bind-host: 127.0.0.1
taskmanager.numberOfTaskSlots: $SLOTS
taskmanager.memory.process.size: $TM_MEMORY
# The Python SDK harness runs outside the JVM: little managed memory needed.
taskmanager.memory.managed.fraction: 0.1
parallelism.default: $((TASKMANAGERS * SLOTS))
blob.server.port: 0
io.tmp.dirs: $RUN/tmp
web.tmpdir: $RUN/tmp
EOF
  mkdir -p "$RUN/tmp"
  cat >"$RUN/conf/log4j.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = File
appender.main.append = true
appender.main.fileName = ${sys:log.file}
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.netty.name = org.apache.flink.shaded.akka.org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
EOF
}

alive() {  # alive NAME: its pid file names a running process.
  local pid_file=$RUN/$1.pid
  [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

# BashJavaUtils derives the JVM flags and memory settings from flink-conf.yaml,
# as Flink's own jobmanager.sh / taskmanager.sh do.
resource_params() {  # resource_params GET_JM_RESOURCE_PARAMS|GET_TM_RESOURCE_PARAMS
  java "${JAVA_17_OPTS[@]}" -cp "$FLINK_HOME/bin/bash-java-utils.jar:$FLINK_HOME/lib/*" \
    org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$RUN/conf" \
    2>>"$RUN/log/bash-java-utils.log" | grep '^BASH_JAVA_UTILS_EXEC_RESULT:' |
    sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://'
}

launch() {  # launch NAME COMMAND...: in the background, with a pid file.
  local name=$1; shift
  if alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  setsid "$@" >"$RUN/log/$name.out" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  log "$name started (pid $!, log $RUN/log/$name.log)"
}

start_flink_process() {  # start_flink_process NAME KIND MAIN_CLASS
  local name=$1 kind=$2 main=$3 params jvm dynamic
  alive "$name" && { log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; }
  params=$(resource_params "$kind")
  jvm=$(sed -n 1p <<<"$params")
  dynamic=$(sed -n 2p <<<"$params")
  [ -n "$jvm" ] || { log "could not compute $name memory settings ($RUN/log/bash-java-utils.log)"; exit 1; }
  # shellcheck disable=SC2086  # the computed flags are word lists
  launch "$name" java $jvm "${JAVA_17_OPTS[@]}" \
    -Dlog.file="$RUN/log/$name.log" \
    -Dlog4j.configurationFile="file:$RUN/conf/log4j.properties" \
    -cp "$FLINK_HOME/lib/*" "$main" --configDir "$RUN/conf" $dynamic
}

rest() { curl -sf --max-time 3 "http://localhost:$REST_PORT$1"; }

registered_taskmanagers() {
  rest /overview 2>/dev/null | sed -n 's/.*"taskmanagers":\([0-9]*\).*/\1/p'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out waiting for $what; logs in $RUN/log"; return 1
    fi
    sleep 1
  done
}

all_registered() { [ "$(registered_taskmanagers)" = "$TASKMANAGERS" ]; }
job_server_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$JOB_PORT") 2>/dev/null; }

start() {
  local with_job_server=1
  [ "${1:-}" = --no-job-server ] && with_job_server=0
  need_java
  mkdir -p "$CACHE"
  install_flink
  if [ "$with_job_server" = 1 ] && ! install_job_server; then
    log 'no job server jar: nothing (more) started; --no-job-server starts Flink alone'
    exit 3
  fi
  write_conf
  start_flink_process jobmanager GET_JM_RESOURCE_PARAMS \
    org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint
  wait_for 60 "the JobManager's REST API on port $REST_PORT" rest /config >/dev/null
  local i
  for i in $(seq 1 "$TASKMANAGERS"); do
    start_flink_process "taskmanager-$i" GET_TM_RESOURCE_PARAMS \
      org.apache.flink.runtime.taskexecutor.TaskManagerRunner
  done
  wait_for 90 "$TASKMANAGERS TaskManagers to register" all_registered
  if [ "$with_job_server" = 1 ]; then
    launch job-server java "-Xmx$JOB_SERVER_HEAP" "${JAVA_17_OPTS[@]}" -jar "$JOB_SERVER_JAR" \
      --flink-master="localhost:$REST_PORT" --job-host=localhost \
      --job-port="$JOB_PORT" --artifact-port="$ARTIFACT_PORT" \
      --expansion-port="$EXPANSION_PORT"
    wait_for 90 "Beam's job server on port $JOB_PORT" job_server_listening
  fi
  log "up: Flink REST http://localhost:$REST_PORT, $TASKMANAGERS TaskManagers x $SLOTS slots$(
    [ "$with_job_server" = 1 ] && echo ", Beam job endpoint localhost:$JOB_PORT")"
}

stop_process() {  # stop_process NAME: TERM, then KILL after 20 s.
  local pid_file=$RUN/$1.pid pid
  [ -f "$pid_file" ] || return 0
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    log "$1 stopped (pid $pid)"
  fi
  rm -f "$pid_file"
}

stop() {
  local name
  stop_process job-server
  for pid_file in "$RUN"/taskmanager-*.pid; do
    [ -e "$pid_file" ] || continue
    name=$(basename "$pid_file" .pid)
    stop_process "$name"
  done
  stop_process jobmanager
}

status() {
  local name running=0
  for pid_file in "$RUN"/*.pid; do
    [ -e "$pid_file" ] || continue
    name=$(basename "$pid_file" .pid)
    if alive "$name"; then echo "$name: running (pid $(cat "$pid_file"))"; running=1
    else echo "$name: dead (stale pid file)"; fi
  done
  [ "$running" = 1 ] || { echo 'not running'; return 1; }
  rest /overview && echo
}

case "${1:-}" in
  install) need_java; mkdir -p "$CACHE"; install_flink; install_job_server ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start [--no-job-server]|stop|status" >&2; exit 2 ;;
esac
