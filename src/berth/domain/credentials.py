"""What Berth credentials look like on the wire, so that every part can recognise them.

The manager issues them (API keys in ``Authorization``, the browser login cookie); the app
proxy must never forward any of them to an app (an app runs another user's code). Pure: no
I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import re

#: The browser login cookie: ``<login id>.<secret>``.
LOGIN_COOKIE = "berth_login"
#: The cookie older versions kept an API key in; no longer accepted, still never forwarded.
LEGACY_TOKEN_COOKIE = "berth_token"
#: Every cookie Berth sets starts with this (logins and the app proxy's permits alike).
COOKIE_NAMESPACE = "berth_"
#: An API key ``<access key>.<secret>``; the access key is ``BK`` + 18 hex digits.
API_KEY = re.compile(r"BK[0-9A-F]{18}\.", re.IGNORECASE)


def is_berth_cookie(name: str) -> bool:
    """True for every cookie name in Berth's namespace (login, legacy token, app permits).
    Case-insensitive: stripping a look-alike costs nothing, forwarding one may cost a login."""
    return name.strip().lower().startswith(COOKIE_NAMESPACE)


def carries_berth_credential(value: str) -> bool:
    """True when an ``Authorization`` (or ``Proxy-Authorization``) header value holds a Berth
    API key: bare, after any scheme (``Bearer``, ``token``...), or inside ``Basic``'s base64
    as user name or password."""
    if API_KEY.search(value):
        return True
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(rest.strip() + "==", validate=False).decode("latin-1")
    except (binascii.Error, ValueError):
        return False
    return API_KEY.search(decoded) is not None
