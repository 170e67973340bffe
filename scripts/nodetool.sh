#!/usr/bin/env bash
# Cassandra's nodetool for the nodes that scripts/services.sh runs, over a node's JMX port (the
# org.apache.cassandra.tools.NodeTool class of the same jars; no separate install).
#
#   scripts/nodetool.sh status                 # the ring as the first node that answers sees it
#   scripts/nodetool.sh -n 2 repair exams      # on node 2 (JMX port CASSANDRA_JMX_PORT + 1)
#
# Reads the same environment as services.sh: CASSANDRA_NODES, CASSANDRA_JMX_PORT, CACHE_DIR, STATE_DIR.
# Without -n, the nodes are tried in turn (node 1 may be the one that is down).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${CACHE_DIR:-$REPO/.cache}"
CASSANDRA_VERSION=5.0.8
CASS_LIB="$CACHE_DIR/cassandra-$CASSANDRA_VERSION/lib"
CASSANDRA_JMX_PORT="${CASSANDRA_JMX_PORT:-57199}"
CASSANDRA_NODES="${CASSANDRA_NODES:-1}"

node=""
if [[ ${1:-} == -n ]]; then
    node=$2
    shift 2
fi
(($# >= 1)) || { echo "usage: $0 [-n NODE] <nodetool command> [args...]" >&2; exit 2; }
[[ -f $CASS_LIB/cassandra-all-$CASSANDRA_VERSION.jar ]] || { echo "no Cassandra jars in $CASS_LIB" >&2; exit 1; }

java="${CASSANDRA_JAVA:-}"
if [[ -z $java ]]; then
    for j in /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-*/bin/java; do
        [[ -x $j ]] && { java=$j; break; }
    done
fi
java=${java:-java}
# nodetool's own logging at WARN (without a configuration logback logs everything at DEBUG)
logback="$REPO/scripts/nodetool.logback.xml"

run() { # <jmx port> args...
    local port=$1
    shift
    "$java" -Xms64m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED --add-exports java.base/jdk.internal.ref=ALL-UNNAMED \
        --add-exports java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
        --add-opens java.base/java.io=ALL-UNNAMED --add-opens java.base/java.nio=ALL-UNNAMED \
        --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/jdk.internal.ref=ALL-UNNAMED \
        -Dlogback.configurationFile="$logback" -Dcassandra.storagedir="${TMPDIR:-/tmp}" \
        -cp "$CASS_LIB/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$port" "$@"
}

if [[ -n $node ]]; then
    run $((CASSANDRA_JMX_PORT + node - 1)) "$@"
    exit
fi
rc=1
for ((i = 1; i <= CASSANDRA_NODES; i++)); do
    port=$((CASSANDRA_JMX_PORT + i - 1))
    # a node that is down refuses the JMX connection at once; try the next one
    if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
        run "$port" "$@" && exit 0
        rc=$?
    fi
done
exit "$rc"
