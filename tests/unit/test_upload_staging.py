"""The tus staging area: PATCH bodies are written as they come (bounded memory) and uploads
a client gave up on are swept after a day."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from berth.manager.api.uploads import BUFFER, UID, StagingStorage, sweep, user_tag


def test_a_large_patch_body_is_written_through_not_held(tmp_path: Path) -> None:
    storage = StagingStorage(str(tmp_path))
    uid = "a" * 32

    async def go() -> None:
        await storage.create(uid)
        chunk = os.urandom(256 * 1024)
        for _ in range(64):  # 16 MiB in one PATCH
            await storage.append(uid, chunk)
            assert len(storage._buffers[uid][0]) == BUFFER  # one buffer, reused
        await storage.flush(uid)
    asyncio.run(go())
    assert (tmp_path / uid).stat().st_size == 16 * 2**20


def test_stale_uploads_are_swept(tmp_path: Path) -> None:
    old, new = tmp_path / ("b" * 32), tmp_path / ("c" * 32)
    for p in (old, new, Path(f"{old}.info")):
        p.write_bytes(b"x")
    os.utime(old, (1000, 1000))
    os.utime(f"{old}.info", (1000, 1000))
    (tmp_path / ".locks").mkdir()
    assert sweep(tmp_path, now=1000 + 24 * 3600 + 1) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks", "c" * 32]


def test_upload_ids_are_32_hex_digits_tagged_with_their_user() -> None:
    assert len(user_tag("u1")) == 8 and user_tag("u1") != user_tag("u2")
    assert UID.match(user_tag("u1") + "0" * 24)
    assert not UID.match("..") and not UID.match("A" * 32)


def test_a_patch_that_failed_midway_leaves_no_bytes_beyond_the_offset(tmp_path: Path) -> None:
    storage = StagingStorage(str(tmp_path))
    uid = "d" * 32

    async def go() -> None:
        await storage.create(uid)
        await storage.write_info(uid, {"offset": 3})
        (tmp_path / uid).write_bytes(b"abc")
        async with storage.lock(uid):  # a PATCH that wrote 4 MiB, then was refused
            await storage.append(uid, b"x" * BUFFER)
        assert uid not in storage._buffers
        async with storage.lock(uid):  # the next PATCH starts from the offset
            await storage.append(uid, b"def")
            await storage.flush(uid)
    asyncio.run(go())
    assert (tmp_path / uid).read_bytes() == b"abcdef"
