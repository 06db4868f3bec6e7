#!/usr/bin/env bash
# Full, idempotent setup for developers and CI: Python environment, Docker engine, images.
#
# Safe to run again at any time; a second run on a set-up machine does no work and takes a
# few seconds. Needs root (or sudo for the Docker steps): the base image is debootstrapped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '==> %s\n' "$*"; }
started=$SECONDS

# --- uv ------------------------------------------------------------------------------------
if ! command -v uv >/dev/null 2>&1; then
    step "installing uv (pip install uv)"
    # A Debian system Python refuses plain pip installs (PEP 668); fall back to a user install.
    python3 -m pip install --quiet uv \
        || python3 -m pip install --quiet --user --break-system-packages uv
    export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
    hash -r
    command -v uv >/dev/null 2>&1 || { echo "uv installed but not on PATH" >&2; exit 1; }
fi

# --- Python environment --------------------------------------------------------------------
step "python environment (uv sync)"
uv sync --quiet

# --- Docker engine -------------------------------------------------------------------------
step "docker engine"
scripts/ensure-docker.sh

# --- web UI bundle -------------------------------------------------------------------------
# npm ci + npm run build in webui/, skipped when webui/dist/index.html is newer than every
# source (webui/src, public, package.json, package-lock.json, index.html, vite.config.ts,
# tsconfig.json). tests/e2e/conftest.py applies the same rule to refuse a stale bundle.
webui_stale() {
    local stamp=webui/dist/index.html
    [ -f "$stamp" ] || return 0
    [ -n "$(find webui/src webui/public webui/package.json webui/package-lock.json \
        webui/index.html webui/vite.config.ts webui/tsconfig.json -newer "$stamp" \
        -print -quit 2>/dev/null)" ]
}
if webui_stale; then
    step "web UI bundle (npm ci && npm run build in webui/)"
    command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js 20+ and npm" >&2; exit 1; }
    webui_log="$(mktemp)"
    # Quiet on success; the whole npm/tsc/vite output on failure.
    if ! (cd webui && npm ci --no-audit --no-fund --loglevel=error && npm run build) \
            >"$webui_log" 2>&1; then
        cat "$webui_log" >&2
        rm -f "$webui_log"
        echo "web UI build failed" >&2
        exit 1
    fi
    rm -f "$webui_log"
else
    step "web UI bundle up to date (webui/dist)"
fi

# --- browser for the end-to-end tests ------------------------------------------------------
step "browser for end-to-end tests"
scripts/ensure-browser.sh

# --- environment images --------------------------------------------------------------------
step "environment images (python -m berth.images build)"
uv run python -m berth.images build

step "setup done in $((SECONDS - started))s"
