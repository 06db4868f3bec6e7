"""The SDK's one error type and how an HTTP answer becomes it."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The API refused a request. ``fields`` maps field paths to messages for 422s."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        self.fields: dict[str, str] = {}
        if isinstance(detail, list):
            for item in detail:
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query")]
                key, msg = ".".join(loc) or "request", item.get("msg", "")
                # One field may carry several refusals (e.g. the user's and the project's
                # policy): keep every one.
                self.fields[key] = f"{self.fields[key]}; {msg}" if key in self.fields else msg
            message = "; ".join(f"{k}: {v}" for k, v in self.fields.items())
        else:
            message = str(detail)
        super().__init__(message)


def raise_for(r: httpx.Response) -> None:
    """Raise :class:`ApiError` for a 4xx/5xx answer (its body must have been read)."""
    if r.status_code < 400:
        return
    try:
        body = r.json()
        detail = body.get("detail", r.text) if isinstance(body, dict) else r.text
    except ValueError:
        detail = r.text or r.reason_phrase
    raise ApiError(r.status_code, detail)
