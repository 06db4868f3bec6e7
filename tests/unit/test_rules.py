"""Validation rules (berth.domain.rules): each rule with good and bad values, the field it
names and a message that names the rule."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from berth.domain import limits, rules
from berth.domain.rules import (
    MAX_PREOPEN_PORTS,
    RESERVED_PORTS,
    RuleError,
    check_environ,
    check_environ_pairs,
    check_ports,
    check_resources,
    check_session_name,
    check_threads,
    format_size,
    parse_duration,
    parse_ports,
    parse_size,
)

MiB, GiB = 2**20, 2**30


def broken(fn: object, *args: object, **kwargs: object) -> RuleError:
    with pytest.raises(RuleError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value


def test_rule_error_is_a_value_error_showing_field_and_message() -> None:
    err = RuleError("resources.mem", "must be at least 64m")
    assert isinstance(err, ValueError)
    assert str(err) == "resources.mem: must be at least 64m"


# --- session names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["abcd", "a" * 64, "my-session", "my.session_1", "_abc", "abc_", "A1-b.2", "1234"]
)
def test_good_names(name: str) -> None:
    assert check_session_name(name) == name


@pytest.mark.parametrize("name", ["", "a", "abc", "a" * 65, "a" * 200])
def test_names_of_wrong_length(name: str) -> None:
    err = broken(check_session_name, name)
    assert err.field == "name"
    assert "4 to 64 characters" in err.message


@pytest.mark.parametrize("name", ["my name", "ab\tcd", " abcd", "abcd ", "abcd\n", "a\u00a0bcd"])
def test_names_with_spaces(name: str) -> None:
    err = broken(check_session_name, name)
    assert err.field == "name"
    assert "spaces" in err.message


@pytest.mark.parametrize(
    "name",
    [
        "-abc",
        ".abc",
        "abc-",
        "abc.",
        "ab/cd",
        "ab:cd",
        "séance",
        "名前テスト",
        "ab$cd",
        "abc\u00e9",
    ],
)
def test_names_with_bad_characters_or_ends(name: str) -> None:
    err = broken(check_session_name, name)
    assert err.field == "name"
    assert "ASCII letters" in err.message and "start and end" in err.message


def test_name_rule_reports_the_field_it_is_given() -> None:
    assert broken(check_session_name, "ab", field="new_name").field == "new_name"


@given(st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.\-]{2,62}[A-Za-z0-9_]\Z", fullmatch=True))
def test_any_name_following_the_pattern_passes(name: str) -> None:
    assert check_session_name(name) == name


@given(st.text(min_size=0, max_size=100))
def test_names_either_pass_or_fail_with_a_rule(name: str) -> None:
    ok = (
        4 <= len(name) <= 64
        and name.isascii()
        and all(c.isalnum() or c in "_.-" for c in name)
        and name[0] not in ".-"
        and name[-1] not in ".-"
    )
    if ok:
        assert check_session_name(name) == name
    else:
        assert broken(check_session_name, name).field == "name"


# --- environment variables -----------------------------------------------------------------


def test_good_environ() -> None:
    env = {"A": "1", "_X": "y", "PATH_2": "/bin:/usr/bin", "lower": "v", "SPACE": "a b"}
    assert check_environ(env) == env
    assert check_environ({}) == {}


@pytest.mark.parametrize("key", ["1ABC", "A-B", "A B", "", "A=B", "ÄB", "A.B", "$A"])
def test_bad_environ_names(key: str) -> None:
    err = broken(check_environ, {"OK": "1", key: "v"})
    assert err.field == f"environ.{key}"
    assert "variable name" in err.message


def test_environ_name_with_trailing_newline_is_rejected() -> None:
    assert broken(check_environ, {"PATH\n": "x"}).field == "environ.PATH\n"


def test_environ_value_is_required() -> None:
    err = broken(check_environ, {"EMPTY": ""})
    assert err.field == "environ.EMPTY"
    assert "value is required" in err.message


def test_environ_field_prefix() -> None:
    assert broken(check_environ, {"1": "x"}, field="env").field == "env.1"


def test_environ_pairs() -> None:
    assert check_environ_pairs([("A", "1"), ("B", "2")]) == {"A": "1", "B": "2"}
    err = broken(check_environ_pairs, [("A", "1"), ("B", "2"), ("A", "3")])
    assert err.field == "environ.A"
    assert "must not repeat" in err.message
    assert broken(check_environ_pairs, [("9X", "1")]).field == "environ.9X"
    assert broken(check_environ_pairs, [("X", "")]).message == "a value is required"


@given(
    st.dictionaries(
        st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z", fullmatch=True),
        st.text(min_size=1, max_size=20),
    )
)
def test_any_good_environ_passes(env: dict[str, str]) -> None:
    assert check_environ(env) == env


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("1.5h", 5400),
        ("90s", 90),
        ("2d", 172800),
        ("1w", 604800),
        (" 10 m ", 600),
        ("0.5s", 0.5),
    ],
)
def test_good_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5x", "10", "", "m", "-5m", "1.5.h", "30 minutes", "1h30m", "5M"])
def test_bad_duration_formats(text: str) -> None:
    err = broken(parse_duration, text)
    assert err.field == "timeout"
    assert "number followed by a unit" in err.message


@pytest.mark.parametrize("text", ["0s", "0m", "0.0h"])
def test_zero_durations(text: str) -> None:
    err = broken(parse_duration, text, field="idle")
    assert err.field == "idle"
    assert "greater than zero" in err.message


def test_tiny_duration_is_not_zero() -> None:
    try:
        value = parse_duration("0.0000001s")
    except RuleError:
        return
    assert value > timedelta(0)


@given(st.integers(1, 10**6), st.sampled_from("smhdw"))
def test_duration_units(amount: int, unit: str) -> None:
    seconds = amount * rules.DURATION_UNITS[unit]
    if seconds <= limits.TIMEOUT_MAX.total_seconds():
        assert parse_duration(f"{amount}{unit}").total_seconds() == seconds
    else:
        assert broken(parse_duration, f"{amount}{unit}").message == "must be at most 365d"


@pytest.mark.parametrize("text", ["365d", "31536000s", "8760h", "525600m", "52w"])
def test_durations_at_the_limit(text: str) -> None:
    assert parse_duration(text) <= limits.TIMEOUT_MAX


@pytest.mark.parametrize("text", ["366d", "31536001s", "53w", "1" + "0" * 40 + "s",
                                  "9" * 400 + ".5w"])
def test_durations_past_the_limit(text: str) -> None:
    err = broken(parse_duration, text)
    assert (err.field, err.message) == ("timeout", "must be at most 365d")


def test_duration_limit_is_a_parameter() -> None:
    assert parse_duration("1h", "idle", timedelta(hours=1)) == timedelta(hours=1)
    err = broken(parse_duration, "2h", "idle", timedelta(hours=1))
    assert (err.field, err.message) == ("idle", "must be at most 3600s")


@given(st.text(max_size=60))
def test_any_duration_text_parses_within_the_limit_or_names_the_rule(text: str) -> None:
    try:
        value = parse_duration(text)
    except RuleError as e:
        assert e.field == "timeout"
    else:
        assert timedelta(0) < value <= limits.TIMEOUT_MAX


@given(st.one_of(st.text(max_size=60), st.integers(-(2**80), 2**80),
                 st.from_regex(r"\A\d{1,60}(\.\d{1,60})?[kmgtKMGT]?(i?b)?\Z", fullmatch=True)))
def test_any_size_parses_within_the_limit_or_names_the_rule(text: str | int) -> None:
    try:
        value = parse_size(text)
    except RuleError as e:
        assert e.field == "mem"
    else:
        assert 1 <= value <= limits.MEM_MAX


# --- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * MiB),
        ("2g", 2 * GiB),
        ("2G", 2 * GiB),
        ("1.5g", 1536 * MiB),
        ("1024", 1024),
        ("10b", 10),
        ("1k", 1024),
        ("1kb", 1024),
        ("1KiB", 1024),
        ("64MiB", 64 * MiB),
        ("1t", 2**40),
        (" 3 g ", 3 * GiB),
        (4096, 4096),
    ],
)
def test_good_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["5x", "g", "", "-1", "1.5.g", "1e3", "1 gigabyte", "1p"])
def test_bad_size_formats(text: str) -> None:
    err = broken(parse_size, text)
    assert err.field == "mem"
    assert "must be a size" in err.message


@pytest.mark.parametrize("text", ["0", "0g", 0, -5, "0.4"])
def test_zero_or_negative_sizes(text: str | int) -> None:
    err = broken(parse_size, text, field="resources.shmem")
    assert err.field == "resources.shmem"
    assert "greater than zero" in err.message


@pytest.mark.parametrize(
    ("size", "text"),
    [(GiB, "1g"), (512 * MiB, "512m"), (1536 * MiB, "1536m"), (2**40, "1t"), (1000, "1000")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@given(st.integers(1, limits.MEM_MAX))
def test_format_then_parse_size_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize("text", ["64t", "65536g", str(limits.MEM_MAX), limits.MEM_MAX])
def test_sizes_at_the_limit(text: str | int) -> None:
    assert parse_size(text) == limits.MEM_MAX


@pytest.mark.parametrize("text", ["99999999999t", "65t", "64.001t", str(limits.MEM_MAX + 1),
                                  limits.MEM_MAX + 1, "9" * 400, "9" * 400 + ".9g", 10**400])
def test_sizes_past_the_limit(text: str | int) -> None:
    err = broken(parse_size, text, "resources.shmem")
    assert (err.field, err.message) == ("resources.shmem", "must be at most 64t")


@given(st.integers(1, 10**6), st.sampled_from(["k", "m", "g", "t"]), st.sampled_from(["", "b"]))
def test_parse_then_format_size_is_shortest(amount: int, unit: str, suffix: str) -> None:
    assume(amount * rules.SIZE_UNITS[unit] <= limits.MEM_MAX)
    size = parse_size(f"{amount}{unit}{suffix}")
    assert size == amount * rules.SIZE_UNITS[unit]
    assert parse_size(format_size(size)) == size
    assert len(format_size(size)) <= len(f"{amount}{unit}")


# --- preopen ports -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        ("", []),
        ("8080", [8080]),
        ("8080,8081 8082", [8080, 8081, 8082]),
        ("9000:9003", [9000, 9001, 9002, 9003]),
        ("9000:9000", [9000]),
        ("1024, 65535", [1024, 65535]),
        ("9000:9009", list(range(9000, 9010))),  # exactly the maximum
    ],
)
def test_good_ports(text: str, ports: list[int]) -> None:
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["9003:9000", "a:b", "9000:", ":9000", "9000:x"])
def test_bad_port_ranges(text: str) -> None:
    err = broken(parse_ports, text)
    assert err.field == "preopen_ports"
    assert "is not a range a:b" in err.message


@pytest.mark.parametrize("text", ["http", "-1", "80.5", "0x1f90"])
def test_bad_port_numbers(text: str) -> None:
    err = broken(parse_ports, text)
    assert err.field == "preopen_ports"
    assert "is not a port number" in err.message


@pytest.mark.parametrize("text", ["9000:9010", ",".join(str(p) for p in range(9000, 9011))])
def test_too_many_ports(text: str) -> None:
    err = broken(parse_ports, text)
    assert err.field == "preopen_ports"
    assert f"at most {MAX_PREOPEN_PORTS} ports" in err.message


@pytest.mark.parametrize("port", [0, 80, 1023, 65536, 100000])
def test_ports_out_of_range(port: int) -> None:
    err = broken(check_ports, [port])
    assert err.field == "preopen_ports"
    assert f"port {port} is outside 1024-65535" in err.message


def test_duplicate_ports() -> None:
    err = broken(parse_ports, "9000,9001,9000")
    assert "port 9000 is given twice" in err.message
    assert "given twice" in broken(parse_ports, "9000:9002 9001").message


@pytest.mark.parametrize("port", sorted(RESERVED_PORTS))
def test_reserved_ports(port: int) -> None:
    err = broken(check_ports, [port])
    assert err.field == "preopen_ports"
    assert f"port {port} is reserved" in err.message


def test_an_image_apps_ports_are_reserved_too() -> None:
    assert check_ports([9000], app_ports=frozenset({9001})) == [9000]
    err = broken(check_ports, [9000], "ports", frozenset({9000}))
    assert err.field == "ports"
    assert "reserved" in err.message


def test_huge_port_range_is_refused_without_expanding_it() -> None:
    """A typo like 1024:99999999999 must be a rule error, not a list of 10^11 ports (run in
    a memory-capped child process so that the bug cannot hurt the test machine)."""
    code = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from berth.domain.rules import RuleError, parse_ports
        try:
            parse_ports("1024:99999999999")
        except RuleError as e:
            print("RULE", e.field, e.message)
        except MemoryError:
            print("MEMORY")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("RULE preopen_ports"), out.stdout + out.stderr


@given(st.lists(st.integers(1024, 65535), max_size=MAX_PREOPEN_PORTS, unique=True))
def test_any_distinct_unreserved_ports_pass(ports: list[int]) -> None:
    assume(not set(ports) & RESERVED_PORTS)
    assert check_ports(ports) == ports
    assert parse_ports(",".join(map(str, ports))) == ports


# --- resources -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "mem", "shmem"),
    [(1, GiB, 64 * MiB), (0.5, 64 * MiB, 64 * MiB), (0.01, 64 * MiB, 1), (16, 64 * GiB, 32 * GiB)],
)
def test_good_resources(cpu: float, mem: int, shmem: int) -> None:
    check_resources(cpu, mem, shmem)


@pytest.mark.parametrize(
    ("cpu", "mem", "shmem", "field", "words"),
    [
        (0, GiB, MiB, "resources.cpu", "greater than zero"),
        (-1, GiB, MiB, "resources.cpu", "greater than zero"),
        (0.005, GiB, MiB, "resources.cpu", "multiple of 0.01"),
        (1.001, GiB, MiB, "resources.cpu", "multiple of 0.01"),
        (1, 64 * MiB - 1, MiB, "resources.mem", "at least 64m"),
        (1, 0, 0, "resources.mem", "at least 64m"),
        (1, GiB, 0, "resources.shmem", "greater than zero"),
        (1, GiB, GiB + 1, "resources.shmem", "not be larger than memory"),
        (1, 64 * MiB, 128 * MiB, "resources.shmem", "not be larger than memory"),
    ],
)
def test_bad_resources(cpu: float, mem: int, shmem: int, field: str, words: str) -> None:
    err = broken(check_resources, cpu, mem, shmem)
    assert err.field == field
    assert words in err.message


def test_shmem_may_equal_mem() -> None:
    check_resources(1, GiB, GiB)


@pytest.mark.parametrize("cpu", [1.1, 2.3, 0.29, 0.57])
def test_cpu_in_hundredths_passes(cpu: float) -> None:
    check_resources(cpu, GiB, 64 * MiB)


# --- threads -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2, 999, 1000])
def test_good_threads(value: int) -> None:
    assert check_threads(value, "threads") == value


@pytest.mark.parametrize("value", [0, -1, 1001, 10**6])
def test_bad_threads(value: int) -> None:
    err = broken(check_threads, value, "threads")
    assert err.field == "threads"
    assert "between 1 and 1000" in err.message


# --- limits on text, dates and the environment ----------------------------------------------


def test_environ_limits_at_the_limit() -> None:
    env = {"N" * limits.ENV_NAME_MAX: "é" * (limits.ENV_VALUE_MAX // 2)}
    assert rules.environ_errors(env) == []
    many = {f"V{i}": "x" for i in range(limits.ENV_COUNT_MAX)}
    assert rules.environ_errors(many) == []


def test_environ_limits_past_the_limit() -> None:
    assert rules.environ_errors({"N" * 257: "v"}) == [RuleError(
        "environ." + "N" * 257, "variable name must be at most 256 characters long")]
    assert rules.environ_errors({"V": "é" * (limits.ENV_VALUE_MAX // 2) + "x"}) == [
        RuleError("environ.V", "value must be at most 32 KiB (UTF-8)")]
    many = {f"V{i}": "x" for i in range(limits.ENV_COUNT_MAX + 1)}
    assert rules.environ_errors(many) == [
        RuleError("environ", "at most 256 variables are allowed")]


def test_environ_total_counts_name_value_and_separators() -> None:
    # 8 values: 7 of 32 KiB, one filling up to exactly 256 KiB with "NAME=VALUE\0" each.
    env = {f"V{i}": "x" * limits.ENV_VALUE_MAX for i in range(7)}
    used = sum(len(k) + len(v) + 2 for k, v in env.items())
    env["LAST"] = "y" * (limits.ENV_TOTAL_MAX - used - len("LAST") - 2)
    assert rules.environ_errors(env) == []
    env["LAST"] += "y"
    [err] = rules.environ_errors(env)
    assert err.field == "environ"
    assert err.message.startswith("the variables must total at most 256 KiB")


def test_check_environ_raises_the_first_problem() -> None:
    assert broken(check_environ, {"A": "", "1": "x"}).field == "environ.A"


@given(st.dictionaries(st.text(max_size=300), st.text(max_size=100), max_size=30))
def test_environ_errors_never_raise_and_name_fields(env: dict[str, str]) -> None:
    for err in rules.environ_errors(env):
        assert err.field == "environ" or err.field.startswith("environ.")


def test_startup_command_limit() -> None:
    assert rules.startup_command_problem("x" * limits.STARTUP_COMMAND_MAX) is None
    assert rules.startup_command_problem("x" * (limits.STARTUP_COMMAND_MAX + 1)) == (
        "must be at most 64 KiB (UTF-8)")


def test_starts_at_window() -> None:
    from datetime import UTC, datetime

    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert rules.starts_at_problem(now - limits.STARTS_AT_PAST_MAX, now) is None
    assert rules.starts_at_problem(now + limits.STARTS_AT_FUTURE_MAX, now) is None
    assert rules.starts_at_problem(now - timedelta(days=2), now) == (
        "must not be more than 1 day in the past")
    assert rules.starts_at_problem(now + timedelta(days=366), now) == (
        "must not be more than 365 days in the future")
    assert "timezone" in (rules.starts_at_problem(datetime(2030, 1, 1), now) or "")


@pytest.mark.parametrize(("cpu", "problem"), [
    (1024, None), (0.01, None), (1024.01, "must be at most 1024 cores"),
    (float("nan"), "must be a finite number"), (float("-inf"), "must be a finite number"),
    (0, "must be greater than zero"), (2.005, "must be a multiple of 0.01 cores")])
def test_cpu_problem(cpu: float, problem: str | None) -> None:
    assert rules.cpu_problem(cpu) == problem


def test_memory_maximum_in_resources() -> None:
    check_resources(1, limits.MEM_MAX, limits.MEM_MAX)
    err = broken(check_resources, 1, limits.MEM_MAX + 1, MiB)
    assert (err.field, err.message) == ("resources.mem", "must be at most 64t")


def test_unknown_slots_are_refused_by_name() -> None:
    assert rules.slot_name_errors(["cpu", "gpu", "mem"], ["cpu", "mem", "shmem"]) == [
        RuleError("resources.gpu", "unknown resource slot; known slots: cpu, mem, shmem")]
    assert len(rules.slot_name_errors([f"x{i}" for i in range(100)], ["cpu"])) == 10


def test_rule_errors_carry_every_error() -> None:
    errs = rules.RuleErrors([RuleError("a", "one"), RuleError("b", "two")])
    assert [e.field for e in errs.errors] == ["a", "b"]
    assert str(errs) == "a: one; b: two"


@pytest.mark.parametrize(("size", "text"), [(32 * 1024, "32 KiB"), (2**20, "1 MiB"),
                                            (1000, "1000 bytes")])
def test_format_bytes_limit(size: int, text: str) -> None:
    assert rules.format_bytes_limit(size) == text
