# shellcheck shell=bash
# Sourced by scripts/services.sh: process supervision by supervisord (docs/decisions/0018-supervision.md).
#
# One supervisord per state folder ($RUN_DIR/supervisord.conf, socket $RUN_DIR/supervisor.sock), started by the
# first `start` and shut down by the `stop` that leaves no program running. Every server is one program
# (postgres, redis, cassandra or cassandra-node<i>, s3, nginx, web-<port>, worker or worker-<i>, beat), declared
# by a file in $RUN_DIR/programs/. A program runs its launcher, $RUN_DIR/launch/<name>.sh, which `sv_start`
# rewrites on every start with the environment and command line of that start (make up's settings, the
# secrets, a drill's CELERY_VISIBILITY_TIMEOUT...), so the server runs exactly as the caller asked, whatever
# environment supervisord itself was started with.

SV_CONF="$RUN_DIR/supervisord.conf"
SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

sv_ctl() { "$SUPERVISORCTL" -c "$SV_CONF" "$@"; }

# sv_up: does this state folder's supervisord run? (never starts it)
sv_up() {
    local pid
    [[ -S $RUN_DIR/supervisor.sock && -s $RUN_DIR/supervisord.pid ]] || return 1
    pid=$(tr -dc '0-9' <"$RUN_DIR/supervisord.pid")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

sv_daemon() {
    supervisor_bins
    sv_up && return 0
    mkdir -p "$RUN_DIR/programs" "$RUN_DIR/launch"
    render supervisord.conf.template "$SV_CONF" RUN_DIR="$RUN_DIR" LOG_DIR="$LOG_DIR" REPO="$REPO"
    rm -f "$RUN_DIR/supervisor.sock"
    # a clean environment: each program's comes from its launcher
    env -i PATH="$SYSTEM_PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 "$SUPERVISORD" -c "$SV_CONF" \
        >>"$LOG_DIR/supervisord.log" 2>&1 || fail supervisord "supervisord did not start"
    local deadline=$((SECONDS + 15))
    until sv_up && sv_ctl pid >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail supervisord "supervisord not answering on $RUN_DIR/supervisor.sock within 15 s"
        sleep 0.2
    done
}

# sv_table: "<program> <state> <pid>" per line (pid 0 unless RUNNING); nothing when supervisord is down.
sv_table() {
    sv_up || return 0
    { sv_ctl status 2>/dev/null || true; } | awk '{ pid = 0; if ($2 == "RUNNING") { pid = $4; sub(",", "", pid) } print $1, $2, pid }'
}

# sv_pid <program>: its pid when it runs, else nothing (and a non-zero status)
sv_pid() {
    local pid
    pid=$(sv_table | awk -v n="$1" '$1 == n && $2 == "RUNNING" { print $3 }')
    [[ -n $pid && $pid != 0 ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# sv_programs <regex>: the programs (running or not) whose name matches
sv_programs() { sv_table | awk -v re="^($1)\$" '$1 ~ re { print $1 }'; }

# sv_start <program> <stop signal> <stop wait s> <command...>: (re)write its launcher and program file, and
# start it. The pid of the started process goes to SV_STARTED_PID.
SV_STARTED_PID=
sv_start() {
    local name=$1 signal=$2 wait=$3 launcher="$RUN_DIR/launch/$1.sh" kv
    shift 3
    sv_daemon
    (
        umask 077 # the environment holds the secrets
        {
            printf '# %s as `scripts/services.sh start` last started it (%s): its environment and command.\n' \
                "$name" "$(date -u +%FT%TZ)"
            printf 'cd %q\n' "$REPO"
            printf 'exec env -i'
            while IFS= read -r -d '' kv; do
                [[ $kv == SERVICES_LOCKED=* ]] || printf ' %q' "$kv"
            done < <(env -0)
            printf ' %q' "$@"
            printf '\n'
        } >"$launcher.new"
        mv "$launcher.new" "$launcher"
    )
    render supervisord.program.template "$RUN_DIR/programs/$name.ini" NAME="$name" LAUNCHER="$launcher" \
        REPO="$REPO" STOP_SIGNAL="$signal" STOP_WAIT="$wait" LOG_FILE="$LOG_DIR/$name.log"
    sv_ctl update "$name" >/dev/null 2>&1 || true # adds it the first time; unchanged afterwards
    local out
    out=$(sv_ctl start "$name" 2>&1) || fail "$name" "supervisorctl start: $out"
    SV_STARTED_PID=$(sv_pid "$name") || fail "$name" "exited at once ($out)"
}

# sv_stop <program>: SIGCONT first (a server frozen by a drill must run to shut down), then supervisord's stop:
# the program's stop signal, and SIGKILL to its whole process group after its stop wait.
sv_stop() {
    local name=$1 pid
    pid=$(sv_pid "$name") || return 1
    kill -CONT "$pid" $(pgrep -P "$pid" || true) 2>/dev/null || true
    log "$name: stopping (pid $pid)"
    sv_ctl stop "$name" >/dev/null 2>&1 || warn "$name: supervisorctl stop failed"
    log "$name stopped"
}

# sv_shutdown_if_idle: once no program runs, supervisord goes too (make down leaves no process behind).
sv_shutdown_if_idle() {
    sv_up || return 0
    [[ -z $(sv_table | awk '$2 ~ /^(RUNNING|STARTING|STOPPING|BACKOFF)$/') ]] || return 0
    local pid
    pid=$(tr -dc '0-9' <"$RUN_DIR/supervisord.pid")
    sv_ctl shutdown >/dev/null 2>&1 || true
    for _ in {1..100}; do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    warn "supervisord (pid $pid) still running 10 s after shutdown"
}
