"""The API docs page (``/api/docs``), served without the internet.

FastAPI's own page loads Swagger UI's script and style from a CDN, so it is blank on a
machine that cannot reach one (and it would let a third party run code on the manager's
origin). The web UI build copies Swagger UI's files from the ``swagger-ui-dist`` package into
``webui/dist/api-docs/`` (see ``webui/vite.config.ts``); the manager serves them with the rest
of the bundle and this page points at them.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

#: Where the bundle's Swagger UI files are served (webui/dist/api-docs/).
ASSETS = "/api-docs"
DOCS_URL = "/api/docs"


def mount_api_docs(app: FastAPI, openapi_url: str) -> None:
    """Add ``GET /api/docs``: Swagger UI for ``openapi_url`` with every asset from this host.
    Create the app with ``docs_url=None`` so FastAPI's CDN page is not registered too."""

    @app.get(DOCS_URL, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=None,
        )
