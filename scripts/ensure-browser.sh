#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the end-to-end browser tests (Playwright drives
# /usr/bin/chromium; Playwright's own browser download is not used).
#
# Idempotent: when /usr/bin/chromium exists it only prints one line and exits 0.
set -euo pipefail

say() { printf '[ensure-browser] %s\n' "$*"; }
die() { printf '[ensure-browser] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x /usr/bin/chromium ]; then
    say "chromium present ($(/usr/bin/chromium --version 2>/dev/null | head -n 1 || echo unknown version))"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install chromium"
    SUDO=(sudo)
fi

say "apt-get install chromium"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || die "chromium was installed but /usr/bin/chromium is missing"
say "installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1 || echo chromium)"
