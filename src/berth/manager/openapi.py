"""The API's OpenAPI document, built without starting a server, a database or anything else:
``python -m berth.manager.openapi [FILE]`` writes it to FILE (default: stdout). The web UI's
API types (``webui/src/api-schema.d.ts``) are generated from it by ``npm run gen:api``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from berth.manager.app import create_app
from berth.settings import ManagerSettings


def document() -> dict[str, Any]:
    """The document ``/api/openapi.json`` serves. No file is read or written: the settings
    are fixed so that the document does not depend on this machine."""
    settings = ManagerSettings(agent_token="unused", webui_dir=Path("/nonexistent"))
    spec: dict[str, Any] = create_app(settings).openapi()
    return spec


def main(argv: list[str]) -> None:
    text = json.dumps(document(), indent=2, ensure_ascii=False) + "\n"
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
