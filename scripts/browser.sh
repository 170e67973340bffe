#!/usr/bin/env bash
# Installs the real browser the site's tests drive: Debian's chromium and chromium-driver
# (docs/site.md), and fonts with Arabic glyphs for the right-to-left pages. Idempotent; prints
# the paths it found. Nothing here downloads a browser of its own.
#
#   scripts/browser.sh install   # apt-get install when missing (needs root), else nothing
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

case "${1:-install}" in
    install) install ;;
    status) found ;;
    *) echo "usage: $0 install|status" >&2; exit 2 ;;
esac
