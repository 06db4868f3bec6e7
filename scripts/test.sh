#!/usr/bin/env bash
# Set up everything (idempotent) and run the whole test suite: unit tests, integration tests
# on the real Docker engine with SQLite and PostgreSQL (127.0.0.1:5432, database `test`),
# CLI tests, a schemathesis run and the Playwright browser tests (tests/e2e, Debian's
# Chromium against a real Berth). Slow tests are marked `slow` and are included.
# The run must leave the working tree as it found it: a test that writes into a tracked file
# (or leaves an untracked, not ignored one) fails the run even when pytest passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"

# What `git status` says plus a digest of the tracked changes and of the untracked files'
# contents: equal before and after means the tests wrote nothing outside ignored paths.
tree_state() {
  git status --porcelain=v1 --untracked-files=all
  git diff --no-ext-diff --binary HEAD | sha256sum
  git ls-files --others --exclude-standard -z | xargs -0 -r sha256sum
}

guard=0
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && guard=1
[ "$guard" = 1 ] && before=$(tree_state)

rc=0
uv run pytest -q -p no:cacheprovider "$@" || rc=$?

if [ "$guard" = 1 ]; then
  after=$(tree_state)
  if [ "$before" != "$after" ]; then
    echo "The test run changed the working tree (tests must write only to ignored paths):" >&2
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
    git status --short >&2
    [ "$rc" = 0 ] && rc=1
  fi
fi
exit "$rc"
