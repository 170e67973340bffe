#!/usr/bin/env bash
# Local service manager: runs the project's real servers on loopback, with all state under $STATE_DIR
# (default <repo>/.state, git-ignored), supervised by supervisord.
#
#   scripts/services.sh <start|stop|restart|status> <name>...
#   scripts/services.sh which <name>...   the binary each one runs (installed first when missing)
#   scripts/services.sh pid <name>...     "<program> <pid>" of each running process (the drills' victims)
#
# names: postgres redis cassandra s3 nginx web worker beat, or `all` (= postgres redis cassandra s3). `status`
# with no name shows every service. CASSANDRA_NODES=3: cassandra is a three-node cluster on 127.0.0.1-3.
#
# Every `start` is idempotent: a running service is left alone ("<name> already running"), and so is one that
# answers on its port without being ours ("not managed here"). Readiness waits are bounded; on failure the
# last 30 lines of the service log go to stderr and the script exits non-zero.
#
# One job per file (docs/services.md): scripts/services/provision.sh installs, configure.sh renders the
# configuration templates of scripts/ into the state folder, supervise.sh runs the processes under
# supervisord, ready.sh probes readiness. This file ties them together, one section per server.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/services"
# shellcheck source=scripts/services/common.sh
source "$LIB/common.sh"
# shellcheck source=scripts/services/provision.sh
source "$LIB/provision.sh"
# shellcheck source=scripts/services/configure.sh
source "$LIB/configure.sh"
# shellcheck source=scripts/services/supervise.sh
source "$LIB/supervise.sh"
# shellcheck source=scripts/services/ready.sh
source "$LIB/ready.sh"

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

ALL_SERVERS=(postgres redis cassandra s3)
EVERY_SERVICE=(postgres redis cassandra s3 nginx web worker beat)
[[ $CASSANDRA_NODES =~ ^[1-9]$ ]] || die "CASSANDRA_NODES must be 1 to 9, not '$CASSANDRA_NODES'"

# status_line <program> <what>: "<program>: running (pid N, <what>)" when supervised here, else nothing
status_line() {
    local pid
    pid=$(sv_pid "$1") || return 1
    echo "$1: running (pid $pid, $2)"
}

# ---------------------------------------------------------------- postgres --

start_postgres() {
    pg_place
    if sv_pid postgres >/dev/null || pg_probe; then log "postgres already running"; return 0; fi
    pg_resolve
    pg_place
    pg_configure
    local off
    off=$(log_mark postgres)
    log "postgres: starting on 127.0.0.1:$PG_PORT"
    # fast shutdown on SIGINT; the postmaster's own postmaster.pid stays in its data folder
    sv_start postgres INT 30 "${PG_EXEC_AS[@]}" "$PG_BIN/postgres" -D "$PG_DIR"
    wait_ready postgres "$SV_STARTED_PID" 30 "$off" pg_ready
    pg_ensure_db || fail postgres "could not create role/database $PG_DB_NAME"
    log "postgres: ready on 127.0.0.1:$PG_PORT (db $PG_DB_NAME, user $PG_DB_USER)"
}

stop_postgres() { sv_stop postgres || log "postgres not running"; }

status_postgres() {
    status_line postgres "port $PG_PORT" && return 0
    if pg_probe; then echo "postgres: running (port $PG_PORT, not managed here)"; else echo "postgres: stopped"; fi
}

# ------------------------------------------------------------------- redis --

start_redis() {
    if sv_pid redis >/dev/null || redis_ping; then log "redis already running"; return 0; fi
    redis_resolve
    redis_configure
    local off
    off=$(log_mark redis)
    log "redis: starting on 127.0.0.1:$REDIS_PORT"
    sv_start redis TERM 30 "$REDIS_SERVER" "$REDIS_DIR/redis.conf"
    wait_ready redis "$SV_STARTED_PID" 10 "$off" redis_ping
    log "redis: ready on 127.0.0.1:$REDIS_PORT"
}

stop_redis() { sv_stop redis || log "redis not running"; }

status_redis() {
    status_line redis "port $REDIS_PORT" && return 0
    if redis_ping; then echo "redis: running (port $REDIS_PORT, not managed here)"; else echo "redis: stopped"; fi
}

# --------------------------------------------------------------- cassandra --
#
# One node (CASSANDRA_NODES=1, the default: make test, make run) on 127.0.0.1 with SimpleSnitch, state in
# $STATE_DIR/cassandra, program `cassandra`; or a cluster of CASSANDRA_NODES nodes on 127.0.0.1..N (same native
# and storage ports, JMX on CASSANDRA_JMX_PORT + i - 1), GossipingPropertyFileSnitch in data centre CASSANDRA_DC
# (dc1), state in $STATE_DIR/cassandra-cluster/node<i>, programs `cassandra-node<i>`. CASSANDRA_NODE=i limits
# start/stop/restart to node i of the cluster (the drills restart one node). scripts/nodetool.sh reaches
# nodetool over a node's JMX port.

# cass_node <i>: sets CN_NAME CN_ADDR CN_DIR CN_JMX for node i (1 when CASSANDRA_NODES=1).
cass_node() {
    local i=$1
    if ((CASSANDRA_NODES == 1)); then
        CN_NAME=cassandra CN_ADDR=127.0.0.1 CN_DIR="$STATE_DIR/cassandra" CN_JMX=$CASSANDRA_JMX_PORT
    else
        CN_NAME="cassandra-node$i" CN_ADDR="127.0.0.$i" CN_DIR="$STATE_DIR/cassandra-cluster/node$i"
        CN_JMX=$((CASSANDRA_JMX_PORT + i - 1))
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

# The other shape (one node vs a cluster) must not run from the same state folder: node 1 of a cluster and
# the single node share 127.0.0.1 and the ports.
cass_other_shape_running() {
    local other=cassandra
    ((CASSANDRA_NODES == 1)) && other='cassandra-node[0-9]+'
    [[ -n $(sv_table | awk -v re="^($other)\$" '$1 ~ re && $2 == "RUNNING"') ]]
}

# start_cassandra_node <i>: start node i and wait until it answers CQL on its address.
start_cassandra_node() {
    cass_node "$1"
    if sv_pid "$CN_NAME" >/dev/null; then log "$CN_NAME already running"; return 0; fi
    if cass_port_open "$CN_ADDR" && cass_probe "$CN_ADDR"; then log "$CN_NAME already running"; return 0; fi
    local java off
    java=$(cass_java)
    want_exe "$CN_NAME" "$java"
    cass_configure
    off=$(log_mark "$CN_NAME")
    log "$CN_NAME: starting on $CN_ADDR:$CASSANDRA_PORT (storage $CASSANDRA_STORAGE_PORT, jmx $CN_JMX," \
        "commitlog_sync $CASSANDRA_COMMITLOG_SYNC)"
    sv_start "$CN_NAME" TERM 30 "$java" "@$CN_DIR/conf/jvm.options" org.apache.cassandra.service.CassandraDaemon
    wait_ready "$CN_NAME" "$SV_STARTED_PID" "${CASSANDRA_START_TIMEOUT:-180}" "$off" cass_ready "$off" "$CN_ADDR"
    log "$CN_NAME: ready on $CN_ADDR:$CASSANDRA_PORT"
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

stop_cassandra() {
    local name any=0
    if [[ -n ${CASSANDRA_NODE:-} ]]; then
        cass_node "$(cass_selected)"
        sv_stop "$CN_NAME" || log "$CN_NAME not running"
        return 0
    fi
    # whatever shape runs here (make down stops it whatever CASSANDRA_NODES says now)
    for name in $(sv_programs 'cassandra|cassandra-node[0-9]+'); do sv_stop "$name" && any=1; done
    ((any)) || log "cassandra not running"
}

status_cassandra() {
    local name i state ring="" shown=0
    status_line cassandra "127.0.0.1:$CASSANDRA_PORT" && shown=1
    # the nodes of a cluster: 1..CASSANDRA_NODES, and any other node supervised here
    local -a nodes=()
    mapfile -t nodes < <({
        ((CASSANDRA_NODES > 1)) && seq 1 "$CASSANDRA_NODES"
        sv_programs 'cassandra-node[0-9]+' | sed 's/^cassandra-node//'
    } | sort -nu)
    if ((${#nodes[@]})); then
        # the ring as the first live node sees it: UN = up and normal, DN = down
        ring=$(CASSANDRA_NODES=${nodes[-1]} timeout 30 "$REPO/scripts/nodetool.sh" status 2>/dev/null |
            grep -E '^[UD][NLJM] ' || true)
    fi
    for i in "${nodes[@]}"; do
        name="cassandra-node$i"
        state=$(awk -v a="127.0.0.$i" '$2 == a {print $1}' <<<"$ring")
        status_line "$name" "127.0.0.$i:$CASSANDRA_PORT, jmx $((CASSANDRA_JMX_PORT + i - 1)), ring ${state:-?}" ||
            echo "$name: stopped (ring ${state:-?})"
        shown=1
    done
    ((shown)) && return 0
    if port_open "$CASSANDRA_PORT"; then echo "cassandra: running (port $CASSANDRA_PORT, not managed here)"
    else echo "cassandra: stopped"; fi
}

# ---------------------------------------------------------------------- s3 --

start_s3() {
    if sv_pid s3 >/dev/null || s3_probe; then log "s3 already running"; return 0; fi
    local weed off
    weed=$(weed_bin)
    want_exe s3 "$weed"
    s3_configure
    off=$(log_mark s3)
    log "s3: starting SeaweedFS on 127.0.0.1:$S3_PORT"
    sv_start s3 TERM 30 "$weed" mini -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.port="$S3_PORT" -s3.port.grpc="$S3_GRPC_PORT" -s3.config="$S3_DIR/s3.json" \
        -s3.port.iceberg=0 -s3.port.lance=0 -s3.localSocket="$S3_DIR/s3.sock" \
        -master.port="$S3_MASTER_PORT" -master.port.grpc="$S3_MASTER_GRPC_PORT" -master.telemetry=false \
        -volume.port="$S3_VOLUME_PORT" -volume.port.grpc="$S3_VOLUME_GRPC_PORT" \
        -filer.port="$S3_FILER_PORT" -filer.port.grpc="$S3_FILER_GRPC_PORT" \
        -filer.localSocket="$S3_DIR/filer.sock" \
        -admin.ui=false -admin.port="$S3_ADMIN_PORT" -admin.port.grpc="$S3_ADMIN_GRPC_PORT" -webdav=false
    wait_ready s3 "$SV_STARTED_PID" 30 "$off" s3_ready
    log "s3: ready on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET)"
}

stop_s3() { sv_stop s3 || log "s3 not running"; }

status_s3() {
    status_line s3 "port $S3_PORT" && return 0
    if s3_probe; then echo "s3: running (port $S3_PORT, not managed here)"; else echo "s3: stopped"; fi
}

# ------------------------------------------------------------------- nginx --

start_nginx() {
    local nginx off
    nginx=$(nginx_bin)
    want_exe nginx "$nginx"
    nginx_configure
    local -a base=("$nginx" -p "$NGINX_DIR" -c "$NGINX_CONF" -e "$NGINX_DIR/error.log")
    "${base[@]}" -t -q >>"$LOG_DIR/nginx.log" 2>&1 || fail nginx "rendered config is invalid"
    if sv_pid nginx >/dev/null; then
        "${base[@]}" -s reload >>"$LOG_DIR/nginx.log" 2>&1 || fail nginx "reload failed"
        log "nginx already running (config re-rendered and reloaded: $WEB_INSTANCES web instance(s))"
        return 0
    fi
    if http_headers "$NGINX_PORT" / | grep -qi '^server: nginx'; then
        log "nginx already running (port $NGINX_PORT, not managed here)"
        return 0
    fi
    off=$(log_mark nginx)
    log "nginx: starting on 127.0.0.1:$NGINX_PORT -> web ${WEB_BASE_PORT}..$((WEB_BASE_PORT + WEB_INSTANCES - 1))"
    # -e: the error log used before the config is read; the config points error_log at the service log
    sv_start nginx TERM 10 "${base[@]}"
    wait_ready nginx "$SV_STARTED_PID" 10 "$off" http_answers "$NGINX_PORT" /
    log "nginx: ready on 127.0.0.1:$NGINX_PORT"
}

stop_nginx() { sv_stop nginx || log "nginx not running"; }

status_nginx() { status_line nginx "port $NGINX_PORT" || echo "nginx: stopped"; }

# --------------------------------------------------------------------- web --

start_web() {
    [[ -x $VENV/bin/gunicorn ]] || die "gunicorn not found in $VENV"
    local port i conf=${GUNICORN_CONFIG:-$REPO/gunicorn.conf.py}
    local -a started=() offs=() pids=()
    for ((i = 0; i < WEB_INSTANCES; i++)); do
        port=$((WEB_BASE_PORT + i))
        if sv_pid "web-$port" >/dev/null || http_answers "$port" /health; then
            log "web-$port already running"
            continue
        fi
        offs+=("$(log_mark "web-$port")")
        log "web-$port: starting gunicorn on 127.0.0.1:$port"
        local -a cmd=("$VENV/bin/gunicorn")
        [[ -f $conf ]] && cmd+=(-c "$conf")
        # gunicorn >= 23 opens a control socket at ~/.gunicorn/gunicorn.ctl by default, shared (and clobbered)
        # by every instance: give each its own. Its error log is stderr (the service log). No access log: the
        # app writes one line per request (docs/observability.md), and a second one cost a save about 0.5 ms
        # of CPU (docs/benchmarks.md, where a B1 save's time goes).
        cmd+=("${WEB_APP:-core.wsgi:application}" --bind "127.0.0.1:$port"
            --control-socket "$RUN_DIR/web-$port.ctl")
        sv_start "web-$port" TERM 30 "${cmd[@]}"
        started+=("$port")
        pids+=("$SV_STARTED_PID")
    done
    # the first request may be slow (imports, connections): each probe may take 10 s
    for i in "${!started[@]}"; do
        wait_ready "web-${started[i]}" "${pids[i]}" 30 "${offs[i]}" http_answers "${started[i]}" /health 10
        log "web-${started[i]}: ready on 127.0.0.1:${started[i]}"
    done
}

stop_web() {
    local name any=0
    # every instance supervised here, including ones outside the current range
    for name in $(sv_programs 'web-[0-9]+'); do sv_stop "$name" && any=1; done
    ((any)) && log "web stopped" || log "web not running"
}

status_web() {
    local name any=0
    for name in $(sv_programs 'web-[0-9]+'); do status_line "$name" "port ${name#web-}" && any=1; done
    ((any)) || echo "web: stopped"
}

# ----------------------------------------------------------- worker / beat --

worker_name() { (($1 == 1)) && echo worker || echo "worker-$1"; }

start_worker() {
    [[ -x $VENV/bin/celery ]] || die "celery not found in $VENV"
    local i name off
    for ((i = 1; i <= WORKER_INSTANCES; i++)); do
        name=$(worker_name "$i")
        if sv_pid "$name" >/dev/null; then log "$name already running"; continue; fi
        off=$(log_mark "$name")
        log "$name: starting celery worker (concurrency ${CELERY_CONCURRENCY:-2})"
        local -a node=()
        ((i > 1)) && node=(-n "worker$i@%h")
        # The worker's metrics go to the folder the web instances' /metrics adds up (gunicorn.conf.py). It must
        # exist before Celery imports the app (its metrics open their files at import): make run starts no web.
        mkdir -p "${PROMETHEUS_MULTIPROC_DIR:-$STATE_DIR/metrics}"
        sv_start "$name" TERM 30 env PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$STATE_DIR/metrics}" \
            "$VENV/bin/celery" -A "${CELERY_APP:-core}" worker -l info "${node[@]}" \
            --concurrency "${CELERY_CONCURRENCY:-2}"
        wait_ready "$name" "$SV_STARTED_PID" 30 "$off" log_since "$name" "$off" " ready."
        log "$name: ready (pid $SV_STARTED_PID)"
    done
}

start_beat() {
    [[ -x $VENV/bin/celery ]] || die "celery not found in $VENV"
    if sv_pid beat >/dev/null; then log "beat already running"; return 0; fi
    local off
    off=$(log_mark beat)
    log "beat: starting celery beat"
    sv_start beat TERM 30 "$VENV/bin/celery" -A "${CELERY_APP:-core}" beat -l info \
        --schedule "$STATE_DIR/celerybeat-schedule"
    wait_ready beat "$SV_STARTED_PID" 30 "$off" log_since beat "$off" "beat: Starting"
    sleep 1
    sv_pid beat >/dev/null || fail beat "celery beat exited during startup" "" "$off"
    log "beat: running (pid $SV_STARTED_PID)"
}

stop_worker() {
    local name any=0
    # every worker instance supervised here, whatever WORKER_INSTANCES says now
    for name in $(sv_programs 'worker|worker-[0-9]+'); do sv_stop "$name" && any=1; done
    ((any)) || log "worker not running"
}

stop_beat() { sv_stop beat || log "beat not running"; }

status_worker() {
    local name any=0
    for name in $(sv_programs 'worker|worker-[0-9]+'); do
        if status_line "$name" "celery worker"; then any=1; fi
    done
    ((any)) || echo "worker: stopped"
}

status_beat() { status_line beat "celery beat" || echo "beat: stopped"; }

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

# --------------------------------------------------------------------- pid --
# `pid NAME...`: "<program> <pid>" for each running process of the service (every web instance, worker and
# Cassandra node), for the drills to signal.

pid_of_service() {
    local re
    case $1 in
        cassandra) re='cassandra|cassandra-node[0-9]+' ;;
        web) re='web-[0-9]+' ;;
        worker) re='worker|worker-[0-9]+' ;;
        *) re=$1 ;;
    esac
    sv_table | awk -v re="^($re)\$" '$1 ~ re && $2 == "RUNNING" { print $1, $3 }'
}

# -------------------------------------------------------------------- main --

usage() {
    cat >&2 <<USAGE
usage: $0 <start|stop|restart|status|which|pid> <name>...
names: ${EVERY_SERVICE[*]}, or all (= ${ALL_SERVERS[*]})
state: $STATE_DIR (logs in $LOG_DIR)
USAGE
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
    [[ $action == status || $action == pid ]] && names=("${EVERY_SERVICE[@]}") || usage
fi

# start/stop/restart run one at a time (several sessions may share a checkout).
# flock -o: the lock is not inherited by the servers (nor by supervisord) that we start.
if [[ $action != status && $action != pid && -z ${SERVICES_LOCKED:-} ]] && command -v flock >/dev/null; then
    export SERVICES_LOCKED=1
    exec flock -o -w 600 -E 75 "$RUN_DIR/services.lock" "$0" "$action" "$@"
fi

[[ $action == start || $action == restart ]] && reserve_ports

case $action in
    start)
        for n in "${names[@]}"; do "start_$n"; done ;;
    stop)
        for ((i = ${#names[@]} - 1; i >= 0; i--)); do "stop_${names[i]}"; done
        sv_shutdown_if_idle ;;
    restart)
        for ((i = ${#names[@]} - 1; i >= 0; i--)); do "stop_${names[i]}"; done
        for n in "${names[@]}"; do "start_$n"; done ;;
    status)
        for n in "${names[@]}"; do "status_$n"; done ;;
    which)
        for n in "${names[@]}"; do "which_$n"; done ;;
    pid)
        for n in "${names[@]}"; do pid_of_service "$n"; done ;;
    *) usage ;;
esac
