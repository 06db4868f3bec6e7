#!/usr/bin/env bash
# Set up everything (idempotent) and run Berth: manager + agent on 127.0.0.1:8090 with an
# embedded SQLite database in ~/.local/share/berth. Ctrl-C stops Berth; sessions keep running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
exec uv run berth up "$@"
