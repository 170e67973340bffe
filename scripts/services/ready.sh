# shellcheck shell=bash
# Sourced by scripts/services.sh: readiness. Probes that ask each server the question only a ready server
# answers, and wait_ready, the bounded wait on one of them.

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/${2:-127.0.0.1}/$1" 2>/dev/null; }

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

# Speaks the PostgreSQL protocol (SSLRequest -> 'S' or 'N')?
pg_probe() {
    local out
    out=$(timeout 2 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$PG_PORT"'
        printf "\x00\x00\x00\x08\x04\xd2\x16\x2f" >&3
        head -c 1 <&3' 2>/dev/null) || true
    [[ $out == S || $out == N ]]
}

# Accepts connections (not merely listening while it starts or recovers)?
pg_ready() {
    if [[ -x $PG_BIN/pg_isready ]]; then
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2
    else
        pg_probe
    fi
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

cass_port_open() { port_open "$CASSANDRA_PORT" "$1"; }

cass_probe() { # <address> [max seconds]: answers CQL on that node?
    # without the venv's driver, an open native port has to do
    if ! [[ -x $PY ]] || ! "$PY" -c 'import cassandra' 2>/dev/null; then
        cass_port_open "$1"
        return
    fi
    timeout "${2:-15}" "$PY" - "$1" "$CASSANDRA_PORT" <<'PYEOF' >/dev/null 2>&1
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
PYEOF
}

# cass_ready <offset> <address>: the node logged "Startup complete" in this run and answers CQL (by wait_ready's
# deadline)
cass_ready() { log_since "$CN_NAME" "$1" "Startup complete" && cass_probe "$2" $((deadline - SECONDS + 1)); }

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

# Answers like SeaweedFS's S3 gateway (an S3 XML error or listing)?
s3_probe() {
    local h
    h=$(http_headers "$S3_PORT" /)
    [[ $h == HTTP/* ]] || return 1
    grep -qiE '^(server: seaweedfs|x-amz-request-id:|content-type: application/xml)' <<<"$h"
}

# s3_ensure_bucket [max seconds]: as the admin identity (the app's may not create buckets)
s3_ensure_bucket() {
    S3_ADMIN_ACCESS_KEY=$S3_ADMIN_ACCESS_KEY S3_ADMIN_SECRET_KEY=$S3_ADMIN_SECRET_KEY S3_BUCKET=$S3_BUCKET \
        timeout "${1:-20}" "$PY" - "$S3_PORT" <<'PYEOF'
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
PYEOF
}

s3_ready() { http_answers "$S3_PORT" / && s3_ensure_bucket $((deadline - SECONDS + 1)) >>"$LOG_DIR/s3.log" 2>&1; }

# wait_ready <program> <pid> <seconds> <offset> <probe...>: until the probe succeeds (it may read $deadline).
# A program that exits meanwhile, or a probe still failing at the deadline (the program is then stopped),
# fails the start with the first errors of this run and the log's tail.
wait_ready() {
    local name=$1 pid=$2 seconds=$3 off=$4
    shift 4
    local deadline=$((SECONDS + seconds))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || fail "$name" "exited during startup" "" "$off"
        "$@" && return 0
        sleep 0.3
    done
    sv_stop "$name" >/dev/null || true
    fail "$name" "not ready within $seconds s" "" "$off"
}
