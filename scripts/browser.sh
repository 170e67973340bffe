#!/usr/bin/env bash
# Installs the real browser the site's tests drive: Debian's chromium and chromium-driver
# (docs/site.md), fonts with Arabic glyphs for the right-to-left pages, and axe-core for the
# accessibility scans (npm ci of package-lock.json into node_modules/, git-ignored, never served).
# Idempotent; prints what it found. Nothing here downloads a browser of its own.
#
#   scripts/browser.sh install   # apt-get install when missing (needs root), then npm ci when needed
#   scripts/browser.sh status    # exit 0 when chromium and chromedriver are both there
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_DIR="${STATE_DIR:-$REPO/.state}/logs"
mkdir -p "$LOG_DIR"
PACKAGES=(chromium chromium-driver fonts-dejavu-core)

found() {
    local browser driver
    browser=$(command -v chromium || true)
    driver=$(command -v chromedriver || true)
    [[ -n $browser && -n $driver ]] || return 1
    echo "chromium: $browser ($("$browser" --version 2>/dev/null | head -n1))"
    echo "chromedriver: $driver"
}

install() {
    found && return 0
    if [[ $EUID -ne 0 ]]; then
        echo "browser: not root, cannot apt-get install ${PACKAGES[*]}; the browser tests will be skipped" >&2
        return 1
    fi
    command -v apt-get >/dev/null || { echo "browser: no apt-get; install ${PACKAGES[*]} by hand" >&2; return 1; }
    export DEBIAN_FRONTEND=noninteractive
    echo "apt-get install ${PACKAGES[*]} (log: $LOG_DIR/apt.log)"
    if ! timeout 900 apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >>"$LOG_DIR/apt.log" 2>&1; then
        timeout 600 apt-get update -qq >>"$LOG_DIR/apt.log" 2>&1 || true
        timeout 900 apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >>"$LOG_DIR/apt.log" 2>&1 || {
            echo "browser: apt-get install failed; see $LOG_DIR/apt.log" >&2
            return 1
        }
    fi
    found
}

# axe-core, pinned by package-lock.json; reinstalled only when the lock file changes.
axe() {
    local stamp="$REPO/node_modules/.installed"
    if [[ -f $REPO/node_modules/axe-core/axe.min.js && -f $stamp && ! $REPO/package-lock.json -nt $stamp ]]; then
        echo "axe-core: $(cd "$REPO" && node -p "require('./node_modules/axe-core/package.json').version" 2>/dev/null)"
        return 0
    fi
    if ! command -v npm >/dev/null; then
        if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
            timeout 900 apt-get install -y -qq --no-install-recommends nodejs npm >>"$LOG_DIR/apt.log" 2>&1 || true
        fi
        command -v npm >/dev/null || { echo "axe-core: npm not found; the accessibility scans will be skipped" >&2; return 1; }
    fi
    echo "npm ci (axe-core, log: $LOG_DIR/npm.log)"
    (cd "$REPO" && timeout 600 npm ci --no-audit --no-fund >>"$LOG_DIR/npm.log" 2>&1) || {
        echo "axe-core: npm ci failed; see $LOG_DIR/npm.log" >&2
        return 1
    }
    touch "$stamp"
}

case "${1:-install}" in
    install) install && axe ;;
    status) found ;;
    *) echo "usage: $0 install|status" >&2; exit 2 ;;
esac
