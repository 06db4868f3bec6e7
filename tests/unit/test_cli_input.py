"""The CLI refuses bad option values on one line naming the option, never with a traceback.
No manager runs: the values are refused before anything is sent (the endpoint is closed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

IMAGE = ["-i", "berth/python:3.11"]
CASES = [
    (["session", "create", *IMAGE, "--cpu", "nan"], "--cpu", "must be a finite number"),
    (["session", "create", *IMAGE, "--cpu", "inf"], "--cpu", "must be a finite number"),
    (["session", "create", *IMAGE, "--cpu", "2000"], "--cpu", "at most 1024 cores"),
    (["session", "create", *IMAGE, "--cpu", "0.005"], "--cpu", "multiple of 0.01"),
    (["session", "create", *IMAGE, "--mem", "99999999999t"], "--mem", "at most 64t"),
    (["session", "create", *IMAGE, "--mem", "lots"], "--mem", "must be a size"),
    (["session", "create", *IMAGE, "--shmem", "9" * 500], "--shmem", "at most 64t"),
    (["session", "create", *IMAGE, "-e", "NOEQUALS"], "--env", "is not NAME=VALUE"),
    (["session", "create", *IMAGE, "-e", "A=1", "-e", "A=2"], "--env", "given twice"),
    (["session", "create", *IMAGE, "-t", "batch", "-c", "true", "--start-at", "tomorrow"],
     "--start-at", "is not an ISO time"),
    (["session", "create", *IMAGE, "-t", "batch", "-c", "true", "--start-at",
      "2030-01-01T09:00:00"], "--start-at", "must include a timezone"),
    (["session", "create", *IMAGE, "-t", "batch", "-c", "true", "--timeout", "400d"],
     "--timeout", "at most 365d"),
    (["session", "create", *IMAGE, "-t", "batch", "-c", "true", "--timeout", "1e9w"],
     "--timeout", "number followed by a unit"),
    (["session", "create", *IMAGE, "--preopen-ports", "1024:99999999999"], "--preopen-ports",
     "outside"),
    (["run", *IMAGE, "--mem", "1" + "0" * 60, "--", "true"], "--mem", "at most 64t"),
    (["run", *IMAGE, "--start-at", "9999-99-99", "--", "true"], "--start-at", "ISO time"),
]


@pytest.mark.parametrize(("args", "option", "words"), CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_bad_option_values_give_one_line_naming_the_option(
    args: list[str], option: str, words: str
) -> None:
    env = {**os.environ, "BERTH_ENDPOINT": "http://127.0.0.1:9", "BERTH_API_KEY": "x.y",
           "COLUMNS": "60"}
    r = subprocess.run([sys.executable, "-m", "berth.cli.main", *args], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr  # one line even at a narrow terminal width
    assert lines[0].startswith("Error:") and option in lines[0] and words in lines[0], lines
