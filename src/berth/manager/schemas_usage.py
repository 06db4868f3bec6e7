"""API schemas of live usage (issue 11): what the agents measure of each kernel, and the idle
checks' state. The figures come from the manager's in-memory usage store (fed by the agents'
usage reports); the idle checks from the pure :func:`berth.domain.idle.evaluate`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class UsagePoint(BaseModel):
    """One sample of a kernel. null: not known (the first sample has no rates, a file that
    could not be read, no accelerator)."""

    at: datetime
    cpu_percent: float | None = Field(description="Percent of one core since the previous "
                                      "sample (two busy cores: 200).")
    mem_bytes: int | None = Field(description="Memory in use, bytes.")
    mem_limit: int | None = Field(description="The kernel's memory limit, bytes; null: none.")
    net_rx_rate: float | None = Field(None, description="Network received, bytes/s.")
    net_tx_rate: float | None = Field(None, description="Network sent, bytes/s.")
    io_read_rate: float | None = Field(None, description="Disk read, bytes/s.")
    io_write_rate: float | None = Field(None, description="Disk written, bytes/s.")
    net_rx: int | None = Field(None, description="Received since the container started, bytes.")
    net_tx: int | None = Field(None, description="Sent since the container started, bytes.")
    io_read: int | None = Field(None, description="Read since the container started, bytes.")
    io_write: int | None = Field(None, description="Written since the container started, "
                                 "bytes.")
    accel_percent: float | None = Field(None, description="Accelerator utilization, percent.")
    accel_mem_bytes: int | None = Field(None, description="Accelerator memory in use, bytes.")
    accel_mem_limit: int | None = Field(None, description="Accelerator memory the kernel "
                                        "holds (its whole devices', or its share of one), "
                                        "bytes.")


class UsageSummary(BaseModel):
    """A session's newest figures, summed over its kernels (the sessions list's columns)."""

    at: datetime
    cpu_percent: float | None = Field(description="Percent of one core, all kernels.")
    mem_bytes: int | None
    mem_limit: int | None
    accel_percent: float | None = None


class KernelUsageOut(BaseModel):
    kernel_id: str
    role: str
    latest: UsagePoint | None = Field(description="null before the first sample.")
    series: list[UsagePoint] = Field(description="The recent samples, oldest first (the "
                                     "rolling window the manager keeps, for sparklines).")


class SessionUsageOut(BaseModel):
    session_id: str
    interval: float = Field(description="The agents' sampling interval, seconds.")
    kernels: list[KernelUsageOut]


IdleCheckName = Literal["session-lifetime", "network-timeout", "utilization"]


class IdleCheckOut(BaseModel):
    """One idle check of a RUNNING session."""

    check: IdleCheckName
    enabled: bool = Field(description="false: the check is off for this session (see "
                          "``detail.reason``).")
    limit: int | None = Field(description="The configured duration, seconds: the lifetime, "
                              "the network idle timeout, or the utilization window.")
    remaining: float | None = Field(description="Seconds until the check reclaims the session "
                                    "(for utilization: if it stays idle); null: not "
                                    "applicable.")
    remaining_text: str = Field(description="``4h 05m``; ``time reached, checking…`` at 0; "
                                "``-`` when not applicable.")
    deadline: datetime | None
    reached: bool
    urgency: Literal["red", "orange"] | None = Field(description="red under 1 h, orange "
                                                     "under 4 h.")
    warn: bool = Field(description="A warning is due (within the policy's warn-before time).")
    detail: dict[str, Any] = Field(default_factory=dict)


class IdleResourceOut(BaseModel):
    """One resource of the utilization check (the tooltip's line)."""

    resource: str = Field(description="cpu, mem, accel or accel_mem.")
    threshold: float = Field(description="Percent.")
    average: float | None = Field(description="Time-weighted mean over the last window, "
                                  "percent; null: no data (ignored, never counted as 0).")
    covered: float = Field(description="Fraction of the window with data, 0..1.")
    coverage: Literal["none", "partial", "full"]
    level: Literal["ok", "near", "below"] | None = Field(description="near: less than 20 % "
                                                         "above the threshold.")


class IdleOut(BaseModel):
    """The idle checks of a session, evaluated at ``evaluated_at``."""

    evaluated_at: datetime
    checks: list[IdleCheckOut]
    utilization: list[IdleResourceOut]
    combine: Literal["and", "or"] | None = Field(description="How the utilization "
                                                 "resources combine; null: check off.")
    grace_period: int | None
    warn_before: int
