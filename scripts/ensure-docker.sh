#!/usr/bin/env bash
# Make sure a Docker engine is installed, running and answering, and that it can run
# containers with an init process (HostConfig.Init=true, i.e. `docker run --init`).
#
# Idempotent: when everything is already in place it only checks and exits 0 within a second.
# Installs Debian's packages (docker.io, debootstrap, tini) only when their commands are missing.
# Starts dockerd in the background (log: /var/log/berth-dockerd.log) only when `docker info`
# does not answer, and fails with a clear message if it does not come up within the deadline.
#
# Environment:
#   BERTH_DOCKERD_TIMEOUT  seconds to wait for the daemon to answer (default 60)
#   BERTH_DOCKERD_LOG      daemon log file (default /var/log/berth-dockerd.log)
set -euo pipefail

DEADLINE="${BERTH_DOCKERD_TIMEOUT:-60}"
DOCKERD_LOG="${BERTH_DOCKERD_LOG:-/var/log/berth-dockerd.log}"

say() { printf '[ensure-docker] %s\n' "$*"; }
die() { printf '[ensure-docker] ERROR: %s\n' "$*" >&2; exit 1; }

# Run as root directly, otherwise through sudo when available.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install/start Docker"
    SUDO=(sudo)
fi

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- packages --------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# debootstrap lives in /usr/sbin, which is not on a non-root PATH.
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

# dockerd looks up its init binary as `docker-init` on PATH. Debian's docker.io ships it as a
# symlink to tini-static from the `tini` package; a dangling link makes every
# HostConfig.Init=true container fail to start, so check the target, not just the name.
init_ok() {
    local p
    p="$(command -v docker-init 2>/dev/null || true)"
    [ -n "$p" ] && [ -x "$(readlink -f "$p")" ] && "$p" --version >/dev/null 2>&1
}
if ! init_ok; then
    apt_install tini
    init_ok || die "docker-init is still missing or broken after installing tini"
fi

# --- daemon ----------------------------------------------------------------------------
docker_up() { "${SUDO[@]}" docker info >/dev/null 2>&1; }

if docker_up; then
    say "Docker daemon already running"
else
    say "starting dockerd (log: $DOCKERD_LOG)"
    # containerd is started by dockerd itself when no system containerd is running. setsid puts
    # the daemon in its own session, so it outlives the shell or CI step that started it.
    "${SUDO[@]}" bash -c "setsid nohup dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null &"
    start=$SECONDS
    until docker_up; do
        if [ $((SECONDS - start)) -ge "$DEADLINE" ]; then
            say "last lines of $DOCKERD_LOG:" >&2
            "${SUDO[@]}" tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "Docker daemon did not answer within ${DEADLINE}s"
        fi
        sleep 1
    done
    say "Docker daemon up after $((SECONDS - start))s"
fi

# The daemon runs `docker-init --version` itself and reports "N/A" when that fails (missing or
# unparsable binary). Debian's tini prints no git commit, so an empty ID is the healthy case here.
init_commit="$("${SUDO[@]}" docker info --format '{{.InitCommit.ID}}' 2>/dev/null || echo N/A)"
if [ "$init_commit" = "N/A" ]; then
    die "the Docker daemon found no usable docker-init; --init containers would fail to start"
fi
say "ok ($(docker-init --version 2>/dev/null | head -n 1))"
