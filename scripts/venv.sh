#!/usr/bin/env bash
# Creates the project's virtualenv with pip (the Makefile's first step): scripts/venv.sh [DIR, default .venv]
#
# On Debian, `python3 -m venv` needs the python3-venv package (ensurepip); a fresh machine lacks it. As root
# it is installed with apt-get; otherwise the script stops and says what to install. A venv without a working
# pip (left by a failed run) is made again. PYTHON picks the interpreter (default python3).
set -euo pipefail

venv=${1:-.venv}
python=${PYTHON:-python3}

if [[ -x $venv/bin/python ]] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    exit 0
fi
command -v "$python" >/dev/null || { echo "error: $python not found: install Python 3.11" >&2; exit 1; }

if ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    packages=(python3-venv "python$version-venv")
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "error: $python cannot create a virtualenv (no ensurepip); install ${packages[*]}" \
            "(as root: apt-get install ${packages[*]}) and run make again" >&2
        exit 1
    fi
    echo "venv: $python has no ensurepip; installing ${packages[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
    "$python" -c 'import ensurepip' 2>/dev/null ||
        { echo "error: ensurepip still missing after installing ${packages[*]}" >&2; exit 1; }
fi

rm -rf "$venv"
if ! "$python" -m venv "$venv" >&2; then
    rm -rf "$venv"
    echo "error: $python -m venv $venv failed" >&2
    exit 1
fi
