# shellcheck shell=bash
# Sourced by scripts/services.sh: configuration. Each *_configure renders a server's configuration from its
# template in scripts/ (render, in common.sh) into the state folder, on every start, so that the environment
# of that start (ports, CASSANDRA_NODES, CASSANDRA_COMMITLOG_SYNC, the secrets...) always wins.

# -- postgres
PG_DIR="$STATE_DIR/pg"
PG_SOCK="$STATE_DIR/pgsock"

# As root, PostgreSQL runs as user postgres, which cannot reach a state folder under a private home (/root is
# 0700 on Debian). Its data and socket then live in /var/lib/postgresql/exams/<hash of the state folder>,
# linked from $STATE_DIR/pg. Decided once the user exists (after the install).
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
    PG_DIR=$home/pg PG_SOCK=$home/sock
    [[ -d $STATE_DIR/pg && ! -L $STATE_DIR/pg ]] && { rmdir "$STATE_DIR/pg" 2>/dev/null || true; }
    [[ -e $STATE_DIR/pg && ! -L $STATE_DIR/pg ]] || ln -sfn "$home/pg" "$STATE_DIR/pg"
}

# pg_configure: initdb the first time; then exams.conf (scripts/postgres.conf.template), which the
# postgresql.conf of initdb includes.
pg_configure() {
    mkdir -p "$PG_DIR" "$PG_SOCK"
    if ((IS_ROOT)); then
        chown postgres: "$PG_DIR" "$PG_SOCK"
        chmod 700 "$PG_DIR"
        runuser -u postgres -- test -w "$PG_DIR" ||
            die "user postgres cannot reach $PG_DIR (a parent folder is not traversable); set STATE_DIR elsewhere"
    fi
    if [[ ! -s $PG_DIR/PG_VERSION ]]; then
        log "postgres: initdb in $PG_DIR"
        "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR" -U "$PG_SUPERUSER" -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >>"$LOG_DIR/postgres.log" 2>&1 ||
            fail postgres "initdb failed"
    fi
    local fsync=off
    [[ ${PG_FSYNC:-off} == on ]] && fsync=on
    render postgres.conf.template "$PG_DIR/exams.conf" PG_DIR="$PG_DIR" PG_PORT="$PG_PORT" PG_SOCK="$PG_SOCK" \
        PG_FSYNC="$fsync"
    grep -qxF "include 'exams.conf'" "$PG_DIR/postgresql.conf" ||
        printf '\n# scripts/services.sh (scripts/postgres.conf.template)\ninclude '"'exams.conf'"'\n' >>"$PG_DIR/postgresql.conf"
    ((IS_ROOT)) && chown postgres: "$PG_DIR/exams.conf" "$PG_DIR/postgresql.conf"
    return 0
}

pg_psql() { # sql via the socket as the superuser
    [[ -x $PG_BIN/psql ]] || die "psql not found in $PG_BIN"
    "${PG_AS[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
        -U "$PG_SUPERUSER" -d postgres -tA "$@"
}

# pg_ensure_db: the application's role and database (once the server answers).
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
        "$PY" - "$PG_SOCK" "$PG_PORT" "$PG_SUPERUSER" "$sql" "$PG_DB_NAME" "$PG_DB_USER" <<'PYEOF'
import sys, psycopg
sock, port, su, sql, db, owner = sys.argv[1:]
with psycopg.connect(host=sock, port=int(port), user=su, dbname="postgres", autocommit=True) as c:
    c.execute(sql)
    if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
        c.execute(f'CREATE DATABASE "{db}" OWNER "{owner}"')
PYEOF
    fi
}

# -- redis
REDIS_DIR="$STATE_DIR/redis"

redis_configure() {
    mkdir -p "$REDIS_DIR"
    render redis.conf.template "$REDIS_DIR/redis.conf" REDIS_PORT="$REDIS_PORT" REDIS_DIR="$REDIS_DIR"
}

# -- cassandra: one node (CASSANDRA_NODES=1) or node i of a cluster; the node's fields come from cass_node
cass_configure() {
    local conf="$CN_DIR/conf" d sync topology seeds="127.0.0.1:$CASSANDRA_STORAGE_PORT" i jamm cluster=""
    for d in conf data commitlog saved_caches hints cdc_raw tmp; do mkdir -p "$CN_DIR/$d"; done
    case $CASSANDRA_COMMITLOG_SYNC in
        periodic) sync=$'commitlog_sync: periodic\ncommitlog_sync_period: 10s' ;;
        group) sync=$'commitlog_sync: group\ncommitlog_sync_group_window: 15ms' ;;
        *) die "CASSANDRA_COMMITLOG_SYNC must be periodic or group, not '$CASSANDRA_COMMITLOG_SYNC'" ;;
    esac
    if ((CASSANDRA_NODES == 1)); then
        topology=$'cluster_name: exams-local\nnum_tokens: 1\ninitial_token: 0\nendpoint_snitch: SimpleSnitch'
    else
        topology=$'cluster_name: exams-cluster\nnum_tokens: 16\nendpoint_snitch: GossipingPropertyFileSnitch'
        seeds=""
        for ((i = 1; i <= CASSANDRA_NODES; i++)); do seeds+="${seeds:+,}127.0.0.$i:$CASSANDRA_STORAGE_PORT"; done
        printf 'dc=%s\nrack=rack1\n' "$CASSANDRA_DC" >"$conf/cassandra-rackdc.properties"
        cluster=-Dcassandra.ring_delay_ms=3000
    fi
    render cassandra.yaml.template "$conf/cassandra.yaml" TOPOLOGY="$topology" ADDRESS="$CN_ADDR" \
        CASSANDRA_STORAGE_PORT="$CASSANDRA_STORAGE_PORT" CASSANDRA_PORT="$CASSANDRA_PORT" SEEDS="$seeds" \
        COMMITLOG_SYNC="$sync" NODE_DIR="$CN_DIR"
    cp "$TEMPLATES/cassandra.logback.xml" "$conf/logback.xml"
    jamm=$(ls "$CASS_LIB"/jamm-*.jar 2>/dev/null | head -n1)
    [[ -n $jamm ]] || fail "$CN_NAME" "jamm jar missing from $CASS_LIB"
    render cassandra.jvm.options.template "$conf/jvm.options" CASSANDRA_HEAP="$CASSANDRA_HEAP" NODE_DIR="$CN_DIR" \
        JAMM_JAR="$jamm" LOG_DIR="$LOG_DIR" JMX_PORT="$CN_JMX" CLUSTER_OPTIONS="$cluster" CASSANDRA_LIB="$CASS_LIB"
}

# -- s3: SeaweedFS's identities (the app's, held to its bucket, and the admin's), readable by us alone
S3_DIR="$STATE_DIR/s3"

s3_configure() {
    [[ -n $S3_ACCESS_KEY && -n $S3_SECRET_KEY && -n $S3_ADMIN_ACCESS_KEY && -n $S3_ADMIN_SECRET_KEY ]] ||
        die "s3: the file-store keys are missing (scripts/secrets.sh generates them)"
    mkdir -p "$S3_DIR/data"
    local umask_old
    umask_old=$(umask)
    umask 077
    render seaweedfs-s3.json.template "$S3_DIR/s3.json" S3_ACCESS_KEY="$S3_ACCESS_KEY" S3_SECRET_KEY="$S3_SECRET_KEY" \
        S3_ADMIN_ACCESS_KEY="$S3_ADMIN_ACCESS_KEY" S3_ADMIN_SECRET_KEY="$S3_ADMIN_SECRET_KEY" S3_BUCKET="$S3_BUCKET"
    umask "$umask_old"
    # weed mini saves its flags to mini.options and reloads them on the next start; drop it so the flags of
    # this start (from the environment) always win.
    rm -f "$S3_DIR/data/mini.options"
}

# -- nginx: scripts/nginx.local.conf.template, with one upstream server per web instance
NGINX_DIR="$STATE_DIR/nginx"
NGINX_CONF="$NGINX_DIR/nginx.conf"
NGINX_STATIC_ROOT="${NGINX_STATIC_ROOT:-$REPO/staticfiles}" # collectstatic's STATIC_ROOT

nginx_configure() {
    mkdir -p "$NGINX_DIR"
    local upstream="" i user_line="" mime="" f
    for ((i = 0; i < WEB_INSTANCES; i++)); do
        upstream+="        server 127.0.0.1:$((WEB_BASE_PORT + i)) max_fails=1 fail_timeout=2s;"$'\n'
    done
    ((IS_ROOT)) && user_line="user root;"
    for f in /etc/nginx/mime.types /usr/share/nginx/mime.types; do
        [[ -f $f ]] && { mime="include $f;"; break; }
    done
    render nginx.local.conf.template "$NGINX_CONF" USER="$user_line" NGINX_DIR="$NGINX_DIR" LOG_DIR="$LOG_DIR" \
        NGINX_PORT="$NGINX_PORT" UPSTREAM_SERVERS="${upstream%$'\n'}" MIME_TYPES="$mime" \
        STATIC_ROOT="$NGINX_STATIC_ROOT" UPSTREAM_KEEPALIVE="${NGINX_UPSTREAM_KEEPALIVE:-128}"
}
