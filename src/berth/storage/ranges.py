"""HTTP ``Range`` requests for file downloads (RFC 9110 §14), pure.

:func:`parse_range` answers which single byte range of a file of ``size`` bytes to send:
``(start, end)`` inclusive, or None for the whole file (no header, a unit other than bytes,
a header we do not understand, or several ranges: the RFC lets a server ignore Range). It
raises :class:`RangeNotSatisfiable` when a well-formed bytes range lies wholly outside the
file or is malformed after ``bytes=`` (answer 416 with ``Content-Range: bytes */size``).

Forms: ``bytes=100-199``, ``bytes=100-`` (to the end), ``bytes=-500`` (the last 500 bytes);
an end beyond the file is cut to the last byte. Whitespace around the parts is allowed.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
_MAX_DIGITS = 20  # beyond any file size; keeps int() of hostile headers cheap


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    if header is None:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    m = _SPEC.match(spec)
    if m is None or not (m[1] or m[2]) or len(m[1]) > _MAX_DIGITS or len(m[2]) > _MAX_DIGITS:
        raise RangeNotSatisfiable(size)
    if not m[1]:  # suffix: the last N bytes
        n = int(m[2])
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - n), size - 1
    start = int(m[1])
    end = int(m[2]) if m[2] else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return start, min(end, size - 1)
