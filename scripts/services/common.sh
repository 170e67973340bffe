# shellcheck shell=bash
# Sourced by scripts/services.sh: the settings every job shares (state folder, ports), messages and failures,
# the service logs, and the template renderer. See docs/services.md.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${STATE_DIR:-$REPO/.state}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"
CACHE_DIR="${CACHE_DIR:-$REPO/.cache}"
VENV="${VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
TEMPLATES="$REPO/scripts"

PG_PORT="${PG_PORT:-55432}"
REDIS_PORT="${REDIS_PORT:-56379}"
CASSANDRA_PORT="${CASSANDRA_PORT:-59042}"
CASSANDRA_JMX_PORT="${CASSANDRA_JMX_PORT:-57199}"
CASSANDRA_STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-57000}"
CASSANDRA_VERSION=5.0.8
S3_PORT="${S3_PORT:-58333}"
NGINX_PORT="${NGINX_PORT:-8080}"
WEB_BASE_PORT="${WEB_BASE_PORT:-8001}"
WEB_INSTANCES="${WEB_INSTANCES:-2}"
# SeaweedFS `weed mini` internal ports, moved off their defaults
# (9333/9340/8888, admin 23646, gRPC = port+10000, iceberg 8181, lance 9101).
S3_MASTER_PORT="${S3_MASTER_PORT:-58334}"
S3_MASTER_GRPC_PORT="${S3_MASTER_GRPC_PORT:-58335}"
S3_VOLUME_PORT="${S3_VOLUME_PORT:-58336}"
S3_VOLUME_GRPC_PORT="${S3_VOLUME_GRPC_PORT:-58337}"
S3_FILER_PORT="${S3_FILER_PORT:-58338}"
S3_FILER_GRPC_PORT="${S3_FILER_GRPC_PORT:-58339}"
S3_GRPC_PORT="${S3_GRPC_PORT:-58340}"
# mini's built-in maintenance worker dials the admin gRPC at admin port + 10000
# whatever -admin.port.grpc says, so the admin port must sit 10000 below it.
S3_ADMIN_PORT="${S3_ADMIN_PORT:-48341}"
S3_ADMIN_GRPC_PORT=$((S3_ADMIN_PORT + 10000))
S3_BUCKET="${S3_BUCKET:-exams}"

PG_DB_NAME=exams PG_DB_USER=exams PG_DB_PASSWORD=exams

CASSANDRA_NODES="${CASSANDRA_NODES:-1}"
CASSANDRA_DC="${CASSANDRA_DC:-dc1}"
CASSANDRA_HEAP="${CASSANDRA_HEAP:-512m}"
# periodic (acknowledged before the commit log is on disk) or group (acknowledged once it is): see
# docs/decisions (commit log sync).
CASSANDRA_COMMITLOG_SYNC="${CASSANDRA_COMMITLOG_SYNC:-periodic}"
CASS_LIB="$CACHE_DIR/cassandra-$CASSANDRA_VERSION/lib"

# WORKER_INSTANCES=N: N Celery workers (worker 1: program and log `worker`; worker i: `worker-i`, node name
# worker<i>@host), each with CELERY_CONCURRENCY processes. One exam's grading is split into chunks that all of
# them take (core.grading.services.exam_grade).
WORKER_INSTANCES="${WORKER_INSTANCES:-1}"

IS_ROOT=0
[[ $EUID -eq 0 ]] && IS_ROOT=1

mkdir -p "$LOG_DIR" "$RUN_DIR"
# Keep the state folder out of git even without a .gitignore entry.
[[ -f "$STATE_DIR/.gitignore" ]] || echo '*' >"$STATE_DIR/.gitignore"

log() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }
die() { warn "error: $*"; exit 1; }

# Captured output is a value, never a log. A function whose stdout is captured (`x=$(nginx_bin)`) prints
# its result and nothing else: installers (apt_install, pip_install) report on stderr and send their
# tools' output to a log file. Every captured binary path then goes through want_exe, so if anything
# else ever slips into a capture the script stops with a clear message instead of running it.

# want_exe <what> <value>: succeed when value is one absolute path to an executable regular file.
want_exe() {
    local what=$1 value=${2:-}
    [[ $value == /* && $value != *$'\n'* && -f $value && -x $value ]] && return 0
    die "$what: expected the path of an executable, got '${value:0:300}'"
}

# fail <name> <message> [logfile] [offset]: report, show the log tail, exit non-zero. With an offset, the
# first error lines of this run come first (a JVM's last 30 lines are usually its shutdown, not the cause).
fail() {
    local name=$1 msg=$2 logf=${3:-} off=${4:-}
    [[ -n $logf ]] || logf="$LOG_DIR/$1.log"
    warn "$name: $msg"
    if [[ -n $off && -s $logf ]]; then
        local errs
        errs=$(tail -c "+$((off + 1))" "$logf" | grep -E '^(ERROR|FATAL)|Exception|Caused by|[Ee]rror:' | head -n 15) || true
        [[ -n $errs ]] && { warn "---- first errors of this run ----"; warn "$errs"; }
    fi
    if [[ -s $logf ]]; then
        warn "---- last 30 lines of $logf ----"
        tail -n 30 "$logf" >&2 || true
        warn "---- end of $logf ----"
    fi
    exit 1
}

# log_mark <name>: mark the start of a run in the service log; prints the byte offset where it begins.
log_mark() {
    local logf="$LOG_DIR/$1.log"
    touch "$logf"
    printf '\n===== %s start %s =====\n' "$1" "$(date -u +%FT%TZ)" >>"$logf"
    stat -c %s "$logf"
}

# log_since <name> <offset> <fixed string>: does the log contain it past offset?
log_since() {
    tail -c "+$(($2 + 1))" "$LOG_DIR/$1.log" 2>/dev/null | grep -qF -- "$3"
}

# render <template> <output> NAME=value...: the template (a file of scripts/) with each @@NAME@@ replaced by its
# value. A placeholder without a value stops the script; the output is replaced whole (never half-written).
render() {
    local template="$TEMPLATES/$1" out=$2 text pair name
    shift 2
    [[ -f $template ]] || die "missing template $template"
    text=$(<"$template")
    for pair in "$@"; do
        name=${pair%%=*}
        text=${text//@@"$name"@@/${pair#*=}}
    done
    if [[ $text =~ @@([A-Z_][A-Z0-9_]*)@@ ]]; then
        die "$template: no value for @@${BASH_REMATCH[1]}@@"
    fi
    printf '%s\n' "$text" >"$out.new"
    mv "$out.new" "$out"
}

# Our ports sit inside Linux's ephemeral range (32768-60999), so any outgoing connection may borrow one as its
# source port and block a later bind (seen: a TIME-WAIT socket on the SeaweedFS filer port). As root, reserve
# them; this only stops the kernel from handing them out, explicit binds still work.
reserve_ports() {
    ((IS_ROOT)) || return 0
    [[ ${RESERVE_PORTS:-1} == 1 ]] || return 0 # tests on throwaway ports set 0
    local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur want i
    [[ -w $f ]] || return 0
    local -a ports=("$PG_PORT" "$REDIS_PORT" "$CASSANDRA_PORT" "$CASSANDRA_JMX_PORT" "$CASSANDRA_STORAGE_PORT"
        "$S3_PORT" "$S3_MASTER_PORT" "$S3_MASTER_GRPC_PORT" "$S3_VOLUME_PORT" "$S3_VOLUME_GRPC_PORT"
        "$S3_FILER_PORT" "$S3_FILER_GRPC_PORT" "$S3_GRPC_PORT" "$S3_ADMIN_PORT" "$S3_ADMIN_GRPC_PORT"
        "$NGINX_PORT")
    for ((i = 0; i < WEB_INSTANCES; i++)); do ports+=($((WEB_BASE_PORT + i))); done
    for ((i = 1; i < CASSANDRA_NODES; i++)); do ports+=($((CASSANDRA_JMX_PORT + i))); done
    cur=$(<"$f")
    want=$(printf '%s\n' ${cur//,/ } "${ports[@]}" | grep -v '^$' | sort -u | paste -sd, -)
    echo "$want" >"$f" 2>/dev/null || true
}
