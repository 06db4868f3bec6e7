#!/usr/bin/env bash
# Refresh the screenshots the docs show (docs/screenshots/*.png). The browser tests save their
# screenshots into the ignored tests/.artifacts/screenshots/ (a test run never changes tracked
# files); this runs them and copies every screenshot that a page in docs/ references into
# docs/screenshots/, so refreshing them is a deliberate, reviewable change.
# Extra arguments go to pytest, e.g. `scripts/screenshots.sh -k launcher` refreshes only the
# screenshots those tests take (the others are left as they are).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
out=tests/.artifacts/screenshots
rm -rf "$out"
uv run pytest -q -p no:cacheprovider tests/e2e "$@"
copied=0
missing=()
for name in $(grep -ohE 'screenshots/[A-Za-z0-9._-]+\.png' docs/*.md | sed 's|^screenshots/||' | sort -u); do
  if [ -f "$out/$name" ]; then
    cp "$out/$name" "docs/screenshots/$name"
    copied=$((copied + 1))
  else
    missing+=("$name")
  fi
done
echo "copied $copied screenshots into docs/screenshots/"
if [ $# -eq 0 ] && [ ${#missing[@]} -gt 0 ]; then
  echo "no test took: ${missing[*]}" >&2
  exit 1
fi
