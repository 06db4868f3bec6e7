#!/usr/bin/env bash
# Set up everything (idempotent) and run the whole test suite: unit tests, integration tests
# on the real Docker engine with SQLite and PostgreSQL (127.0.0.1:5432, database `test`),
# CLI tests, a schemathesis run and the Playwright browser tests (tests/e2e, Debian's
# Chromium against a real Berth). Slow tests are marked `slow` and are included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
exec uv run pytest -q -p no:cacheprovider "$@"
