"""Delta heartbeats: the agent's builder (which kernels a beat carries) and the manager's pure
reconstruction and match decision (berth.manager.services.beat_memory)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from berth.agent.node import BeatBuilder, BeatKernels
from berth.manager.services.beat_memory import changed_kernels, fingerprint, receive
from berth.rpc import Heartbeat, HeartbeatReply, KernelReport, KernelState


def report(kernel_id: str, state: KernelState = KernelState.RUNNING,
           exit_code: int | None = None) -> KernelReport:
    return KernelReport(kernel_id=kernel_id, session_id=f"s-{kernel_id}", state=state,
                        container_id=f"c-{kernel_id}", exit_code=exit_code)


def reports(*ids: str) -> list[KernelReport]:
    return [report(k) for k in ids]


def acked(builder: BeatBuilder, beat: BeatKernels) -> bool:
    return builder.answered(HeartbeatReply(ack=beat.seq))


# --- the agent's builder ---------------------------------------------------------------------


def test_first_beat_is_full_then_deltas_carry_only_changes() -> None:
    b = BeatBuilder(full_every=100, epoch="e1")
    first = b.next(reports("a", "b", "c"))
    assert (first.seq, first.base, first.why) == (1, None, "first")
    assert [r.kernel_id for r in first.kernels] == ["a", "b", "c"]
    assert first.kernel_count == 3 and first.gone == []
    assert acked(b, first) is False

    same = b.next(reports("a", "b", "c"))
    assert (same.seq, same.base, same.kernels, same.gone, same.kernel_count) == (
        2, 1, [], [], 3)
    assert acked(b, same) is False

    # b exited, c is gone, d is new: only those.
    now = [report("a"), report("b", KernelState.EXITED, 3), report("d")]
    delta = b.next(now)
    assert delta.base == 2
    assert [r.kernel_id for r in delta.kernels] == ["b", "d"]
    assert delta.kernels[0].exit_code == 3
    assert delta.gone == ["c"] and delta.kernel_count == 3


def test_a_delta_is_relative_to_the_last_acknowledged_beat() -> None:
    b = BeatBuilder(full_every=100, epoch="e1")
    acked(b, b.next(reports("a")))
    # Beat 2 answered with the older ack (the manager only queued it): stay on beat 1.
    two = b.next(reports("a", "b"))
    assert b.answered(HeartbeatReply(ack=1)) is False
    three = b.next(reports("a", "b"))
    assert (two.base, three.base) == (1, 1)
    assert [r.kernel_id for r in three.kernels] == ["b"]
    # An ack of a beat the agent does not remember: the next beat is full.
    b.answered(HeartbeatReply(ack=7))
    assert b.next(reports("a", "b")).base is None


def test_full_after_a_failed_post() -> None:
    b = BeatBuilder(full_every=100, epoch="e1")
    acked(b, b.next(reports("a")))
    b.next(reports("a"))
    b.failed()
    again = b.next(reports("a"))
    assert (again.base, again.why, len(again.kernels)) == (None, "failed post", 1)
    acked(b, again)
    assert b.next(reports("a")).base == again.seq


def test_full_at_once_when_the_manager_asks() -> None:
    b = BeatBuilder(full_every=100, epoch="e1")
    acked(b, b.next(reports("a")))
    b.next(reports("a", "b"))
    # A refused delta: send a full beat right away.
    assert b.answered(HeartbeatReply(ack=None, full=True)) is True
    full = b.next(reports("a", "b"))
    assert (full.base, full.why, full.kernel_count) == (None, "asked", 2)
    # A full beat answered "full" waits for the interval (never a tight loop).
    assert b.answered(HeartbeatReply(ack=None, full=True)) is False
    assert b.next(reports("a", "b")).base is None


def test_full_every_n_beats() -> None:
    b = BeatBuilder(full_every=3, epoch="e1")
    kinds = []
    for _ in range(7):
        beat = b.next(reports("a"))
        kinds.append(beat.base is None)
        acked(b, beat)
    assert kinds == [True, False, False, True, False, False, True]


def test_no_ack_means_full() -> None:
    b = BeatBuilder(full_every=100, epoch="e1")
    b.next(reports("a"))
    b.answered(HeartbeatReply(ack=None))
    beat = b.next(reports("a"))
    assert (beat.base, beat.why) == (None, "no ack")


def test_a_delta_needs_its_kernel_count() -> None:
    with pytest.raises(ValidationError):
        Heartbeat(agent_id="a", address="x", resource_group="g", capacity={}, epoch="e",
                  seq=2, base=1)


# --- the manager's reconstruction ------------------------------------------------------------


def beat(seq: int, base: int | None, kernels: list[KernelReport], gone: tuple[str, ...] = (),
         count: int | None = None, epoch: str = "e1") -> Heartbeat:
    return Heartbeat(agent_id="a", address="x", resource_group="g", capacity={}, epoch=epoch,
                     seq=seq, base=base, kernels=kernels, gone=list(gone),
                     kernel_count=len(kernels) if count is None else count)


def test_a_full_beat_is_taken_as_it_is() -> None:
    got = receive(None, None, {}, beat(1, None, reports("a", "b")))
    assert got.reports is not None and sorted(got.reports) == ["a", "b"]
    assert got.refused == ""


def test_a_matching_delta_is_applied_to_a_copy() -> None:
    known = {r.kernel_id: r for r in reports("a", "b", "c")}
    exited = report("b", KernelState.EXITED, 1)
    got = receive("e1", 4, known, beat(5, 4, [exited, report("d")], ("c",), count=3))
    assert got.reports is not None
    assert sorted(got.reports) == ["a", "b", "d"]
    assert got.reports["b"].exit_code == 1
    assert sorted(known) == ["a", "b", "c"] and known["b"].exit_code is None  # untouched


@pytest.mark.parametrize(("epoch", "acked"), [("e0", 4), ("e1", 3), (None, None)])
def test_a_delta_on_another_base_is_refused(epoch: str | None, acked: int | None) -> None:
    known = {r.kernel_id: r for r in reports("a")}
    got = receive(epoch, acked, known, beat(5, 4, [], count=1))
    assert got.reports is None and "relative to beat 4" in got.refused


def test_a_delta_whose_count_does_not_add_up_is_refused() -> None:
    known = {r.kernel_id: r for r in reports("a", "b")}
    got = receive("e1", 4, known, beat(5, 4, [report("c")], count=2))
    assert got.reports is None and "3 kernels after the delta, the agent has 2" in got.refused


def test_changed_kernels_of_a_delta_use_only_the_delta() -> None:
    settled = {k: fingerprint(report(k)) for k in ("a", "b", "c")}
    known = {r.kernel_id: r for r in reports("a", "b", "c", "orphan")}
    delta = beat(5, 4, [report("a"), report("b", KernelState.EXITED, 0), report("d")], ("c",),
                 count=4)
    got = receive("e1", 4, known, delta)
    assert got.reports is not None
    # a: reported again unchanged; b: changed; c: gone; d: new; orphan: never settled.
    assert changed_kernels(settled, got.reports, delta, {}) == {"b", "c", "d", "orphan"}
