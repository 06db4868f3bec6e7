"""HTTP Range parsing for downloads (berth.storage.ranges)."""

from __future__ import annotations

import pytest

from berth.storage.ranges import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize("header,size,expected", [
    (None, 1000, None),
    ("", 1000, None),
    ("bytes=0-499", 1000, (0, 499)),
    ("bytes=500-999", 1000, (500, 999)),
    ("bytes=500-", 1000, (500, 999)),
    ("bytes=0-", 1000, (0, 999)),
    ("bytes=-500", 1000, (500, 999)),
    ("bytes=-5000", 1000, (0, 999)),
    ("bytes=999-999", 1000, (999, 999)),
    ("bytes=900-5000", 1000, (900, 999)),
    ("BYTES=1-2", 1000, (1, 2)),
    (" bytes = 1 - 2 ", 1000, (1, 2)),
    ("bytes=0-0", 1, (0, 0)),
    ("bytes=-1", 1, (0, 0)),
    ("bytes=0-1,5-6", 1000, None),  # several ranges: the whole file (RFC 9110 allows)
    ("bytes=0-1, -5", 1000, None),
    ("items=0-5", 1000, None),  # a unit we do not know: ignored
    ("bytes", 1000, None),
    ("0-5", 1000, None),
])
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [
    ("bytes=1000-", 1000),
    ("bytes=1000-1005", 1000),
    ("bytes=5-2", 1000),
    ("bytes=-0", 1000),
    ("bytes=0-", 0),
    ("bytes=-5", 0),
    ("bytes=-", 1000),
    ("bytes=", 1000),
    ("bytes=a-b", 1000),
    ("bytes=1-2-3", 1000),
    ("bytes=+1-2", 1000),
    ("bytes=0x10-", 1000),
    ("bytes=" + "9" * 5000 + "-", 1000),
])
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range(header, size)
    assert e.value.size == size
    assert e.value.content_range == f"bytes */{size}"
