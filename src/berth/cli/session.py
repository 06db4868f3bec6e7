"""``berth session ...`` and ``berth run``."""

from __future__ import annotations

import math
import sys
import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from berth.cli.common import (
    bad_option,
    client,
    console,
    elapsed,
    err,
    handle_errors,
    print_json,
    size,
    styled_status,
)
from berth.cli.mounts import MOUNT_HELP, as_mount_error, mount_lines, parse_mounts
from berth.cli.usage import idle_lines, run_top, usage_lines
from berth.client import ENDED, ApiError, Client
from berth.domain import rules
from berth.domain.rules import RuleError

app = typer.Typer(help="Launch, inspect and end compute sessions.", no_args_is_help=True)

ImageOpt = Annotated[
    str,
    typer.Option(
        "--image", "-i", help="Environment image, e.g. berth/python:3.11 (see 'berth image list')."
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", "-n", help="4-64 chars: letters, digits, _ - . (default: generated)."),
]
CpuOpt = Annotated[float | None, typer.Option(help="CPU cores (default 1).")]
MemOpt = Annotated[str | None, typer.Option(help="Memory, e.g. 2g or 512m (default 1g).")]
ShmemOpt = Annotated[str | None, typer.Option(help="Shared memory /dev/shm (default 64m).")]
GpuOpt = Annotated[int | None, typer.Option(
    "--gpu", min=0, help="Whole NVIDIA GPUs per kernel (the slot cuda.device).")]
GpuSharesOpt = Annotated[float | None, typer.Option(
    "--gpu-shares", min=0, help="A fraction of one NVIDIA GPU (the slot cuda.shares), e.g. "
    "0.5: that part of its compute and memory, enforced (NVIDIA MPS). Steps of the resource "
    "group's quantum (default 0.1).")]
ResourceOpt = Annotated[list[str] | None, typer.Option(
    "--resource", "-r", help="Any resource slot as NAME=AMOUNT, e.g. -r cuda.shares=0.5 or "
    "-r mock-gpu.device=1 (see 'berth agents' for the slots agents offer); repeat.")]
EnvOpt = Annotated[list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE; repeat.")]
ThreadsOpt = Annotated[
    int | None, typer.Option(help="OMP_NUM_THREADS/OPENBLAS_NUM_THREADS (default: the CPU cores).")
]
OwnerOpt = Annotated[str | None, typer.Option("--owner", help="Admins: owner's email.")]
GroupOpt = Annotated[str, typer.Option(help="Resource group.")]
AgentOpt = Annotated[str | None, typer.Option(help="Run on this agent only.")]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start-at", help="Batch: not before this ISO time, e.g. 2030-01-01T09:00:00+00:00."
    ),
]
TimeoutOpt = Annotated[
    str | None, typer.Option(help="Batch: end after this long: number + s/m/h/d/w, e.g. 30m.")
]
MountOpt = Annotated[list[str] | None, typer.Option("--mount", "-m", help=MOUNT_HELP)]
PortsOpt = Annotated[
    str | None, typer.Option("--preopen-ports", help="Ports to open, e.g. '8000,9000:9002'.")
]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", help="The project (name or id) the session belongs "
                             "to (default: your first project by name); see 'berth "
                             "resources projects'.")]
PriorityOpt = Annotated[
    int | None, typer.Option("--priority", min=0, max=100, help="0-100, higher first in the "
                             "queue (default 10; only admins may go above 10).")]


def _environ(pairs: list[str] | None) -> dict[str, str]:
    """NAME=VALUE pairs; the server applies the variable rules (names, sizes, count)."""
    environ: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise bad_option("--env", f"'{_short(pair)}' is not NAME=VALUE")
        if name in environ:
            raise bad_option("--env", f"{_short(name)} is given twice")
        environ[name] = value
    return environ


def _short(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else text[:keep] + "..."


def _slot_options(gpu: int | None, gpu_shares: float | None, resource: list[str] | None
                  ) -> dict[str, Any]:
    """Accelerator slots from --gpu, --gpu-shares and -r NAME=AMOUNT (the server checks the
    names and amounts against what agents offer)."""
    found: dict[str, Any] = {}
    for item in resource or []:
        name, sep, amount = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise bad_option("--resource", f"'{item}' is not NAME=AMOUNT (e.g. cuda.shares=0.5)")
        if name in ("cpu", "mem", "shmem"):
            raise bad_option("--resource", f"use --{name} for {name}")
        try:
            value = float(amount)
        except ValueError:
            raise bad_option("--resource", f"{name}: '{amount}' is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise bad_option("--resource", f"{name}: must be a number not below 0")
        found[name] = value
    given: tuple[tuple[str, str, float | None], ...] = (
        ("--gpu", "cuda.device", gpu), ("--gpu-shares", "cuda.shares", gpu_shares))
    for option, slot, chosen in given:
        if chosen is not None:
            if slot in found:
                raise bad_option(option, f"{slot} is also given with --resource")
            found[slot] = chosen
    return found


def _resources(cpu: float | None, mem: str | None, shmem: str | None, gpu: int | None = None,
               gpu_shares: float | None = None, resource: list[str] | None = None
               ) -> dict[str, Any]:
    """The resources body; values that could not even be sent (NaN) or that no server
    accepts are refused here, naming the option."""
    if cpu is not None and (problem := rules.cpu_problem(cpu)):
        raise bad_option("--cpu", problem)
    for option, value in (("--mem", mem), ("--shmem", shmem)):
        if value is not None:
            try:
                rules.parse_size(value, option)
            except RuleError as e:
                raise bad_option(option, e.message) from None
    given = {"cpu": cpu, "mem": mem, "shmem": shmem}
    return {**{k: v for k, v in given.items() if v is not None},
            **_slot_options(gpu, gpu_shares, resource)}


def _start_at(text: str | None) -> str | None:
    """An ISO 8601 time with a timezone (the server checks the window around now)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_option(
            "--start-at", f"'{_short(text)}' is not an ISO time such as 2030-01-01T09:00:00+00:00"
        ) from None
    if when.tzinfo is None:
        raise bad_option("--start-at", "must include a timezone, e.g. 2030-01-01T09:00:00+00:00")
    return when.isoformat()


def _timeout(text: str | None) -> str | None:
    if text is not None:
        try:
            rules.parse_duration(text, "--timeout")
        except RuleError as e:
            raise bad_option("--timeout", e.message) from None
    return text


def _ports(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return rules.parse_ports(text)
    except RuleError as e:
        raise bad_option("--preopen-ports", e.message) from None


def _cluster(size: int, mode: str) -> dict[str, Any]:
    """The cluster fields of the body (left out for one kernel, as before)."""
    if size == 1 and mode == "single-node":
        return {}
    return {"cluster_size": size, "cluster_mode": mode}


def _create(berth: Client, mount: list[str] | None, **fields: Any) -> list[dict[str, Any]]:
    """Create the sessions; a refused mount is told as an error of --mount."""
    try:
        return berth.create_session(mounts=parse_mounts(mount), **fields)
    except ApiError as e:
        raise as_mount_error(e, mount) or e from None


def wait_with_progress(
    berth: Client, session_id: str, until: set[str], timeout: float = 3600
) -> dict[str, Any]:
    """Show a live status line until the session reaches ``until`` or ends."""
    deadline = time.monotonic() + timeout
    with console.status("waiting...") as status:
        while True:
            s = berth.get_session(session_id)
            extra = s["status_data"].get("scheduler", {}).get("message", "")
            place = f" #{s['queue_position']} in the queue" if s.get("queue_position") else ""
            status.update(
                f"{s['name']}: {s['status']} ({s['status_info']}){place}"
                + (f" - {extra}" if extra and s["status"] == "PENDING" else "")
            )
            if s["status"] in until or s["status"] in ENDED:
                return s
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {s['status']} after {timeout:.0f}s")
            time.sleep(0.3)


@app.command("create")
@handle_errors
def create(
    image: ImageOpt,
    type: Annotated[str, typer.Option("--type", "-t", help="interactive or batch.")] = (
        "interactive"
    ),
    name: NameOpt = None,
    cpu: CpuOpt = None,
    mem: MemOpt = None,
    shmem: ShmemOpt = None,
    gpu: GpuOpt = None,
    gpu_shares: GpuSharesOpt = None,
    resource: ResourceOpt = None,
    env: EnvOpt = None,
    threads: ThreadsOpt = None,
    count: Annotated[int, typer.Option(help="Create this many sessions.")] = 1,
    startup_command: Annotated[
        str | None, typer.Option("--startup-command", "-c", help="Batch: the command to run.")
    ] = None,
    start_at: StartOpt = None,
    timeout: TimeoutOpt = None,
    owner: OwnerOpt = None,
    resource_group: GroupOpt = "default",
    agent: AgentOpt = None,
    preopen_ports: PortsOpt = None,
    mount: MountOpt = None,
    cluster_size: Annotated[int, typer.Option(
        "--cluster-size", help="Kernels per session (main1, sub1, ...), on one agent, in a "
        "private network with passwordless SSH between them.")] = 1,
    cluster_mode: Annotated[str, typer.Option(
        "--cluster-mode", help="single-node (multi-node comes later).")] = "single-node",
    project: ProjectOpt = None,
    priority: PriorityOpt = None,
    wait: Annotated[bool, typer.Option(help="Wait until RUNNING (or ended).")] = True,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a session (interactive by default) and wait until it runs."""
    with client() as berth:
        created = _create(
            berth, mount,
            type=type,
            name=name,
            image=image,
            resources=_resources(cpu, mem, shmem, gpu, gpu_shares, resource),
            environ=_environ(env),
            threads=threads,
            count=count,
            startup_command=startup_command,
            starts_at=_start_at(start_at),
            timeout=_timeout(timeout),
            owner_email=owner,
            resource_group=resource_group,
            agent=agent,
            preopen_ports=_ports(preopen_ports),
            **_cluster(cluster_size, cluster_mode),
            project=project,
            priority=priority,
        )
        results = []
        for s in created:
            if wait and not json:
                s = wait_with_progress(berth, s["id"], {"RUNNING"})
            results.append(s)
            if not json:
                console.print(
                    f"{s['name']} ({s['id']}): {styled_status(s['status'])} {s['status_info']}"
                )
        if json:
            print_json(results)
        if any(s["status"] == "ERROR" for s in results):
            raise typer.Exit(1)


@app.command("list")
@handle_errors
def list_(
    state: Annotated[str, typer.Option(help="running, finished or all.")] = "running",
    type: Annotated[str | None, typer.Option("--type", "-t", help="interactive/batch")] = None,
    name: Annotated[str | None, typer.Option(help="Names containing this.")] = None,
    offset: int = 0,
    limit: int = 50,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List your sessions, newest first (running ones by default)."""
    with client() as berth:
        page = berth.list_sessions(state=state, type=type, name=name, offset=offset, limit=limit)
    if json:
        print_json(page)
        return
    if not page["items"]:
        console.print(
            f"No {'' if state == 'all' else state + ' '}sessions. "
            "Start one with 'berth session create -i IMAGE'."
        )
        return
    table = Table(title=f"{page['total']} session(s)")
    for col in ("name", "status", "type", "image", "cpu", "mem", "elapsed", "agent", "id"):
        table.add_column(col)
    for s in page["items"]:
        table.add_row(
            s["name"],
            styled_status(s["status"]),
            s["type"],
            s["image"],
            s["requested"].get("cpu", "-"),
            size(s["requested"].get("mem", 0)),
            elapsed(s),
            s["agent_id"] or "-",
            s["id"][:8],
        )
    console.print(table)


def device_text(allocations: list[dict[str, Any]]) -> str:
    """``cuda: GPU 0, 1 (whole)`` / ``cuda: 0.5 of GPU 1`` for a kernel's allocations."""
    parts = []
    for a in allocations:
        devices = a.get("devices") or {}
        if a.get("mode") == "shares":
            parts += [f"{a.get('slot_prefix')}: {v} of device {d}" for d, v in devices.items()]
        else:
            parts.append(f"{a.get('slot_prefix')}: device {', '.join(devices)} (whole)")
    return "; ".join(parts)


@app.command("info")
@handle_errors
def info(
    ref: Annotated[str, typer.Argument(help="Session name or id.")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a session: status and why, resources, kernels, live usage and idle checks (while
    RUNNING) and its status history."""
    with client() as berth:
        s = berth.get_session(ref)
        usage = berth.session_usage(s["id"]) if s["status"] == "RUNNING" else None
    if json:
        print_json(s if usage is None else {**s, "live_usage": usage})
        return
    rows = [
        ("id", s["id"]),
        ("name", s["name"]),
        ("owner", s["owner_email"]),
        ("status", f"{styled_status(s['status'])} ({s['status_info']})"),
        ("result", s["result"]),
        ("exit code", str(s["exit_code"])),
        ("type", s["type"]),
        ("image", s["image"]),
        (
            "resources",
            f"cpu {s['requested']['cpu']}, mem {size(s['requested']['mem'])}, "
            f"shmem {size(s['requested']['shmem'])}"
            + "".join(f", {k} {v}" for k, v in sorted(s["requested"].items())
                      if k not in ("cpu", "mem", "shmem")),
        ),
        ("agent", s["agent_id"] or "-"),
        ("created", s["created_at"]),
        ("elapsed", elapsed(s)),
    ]
    for k in s["kernels"]:
        if held := device_text(k.get("accelerators") or []):
            label = "devices" if len(s["kernels"]) == 1 else f"devices {k['cluster_hostname']}"
            rows.append((label, held))
    if usage is not None:
        rows += usage_lines(usage, {k["id"]: k["cluster_hostname"] for k in s["kernels"]})
    if s["startup_command"]:
        rows.append(("startup command", s["startup_command"]))
    if s["status_data"]:
        rows.append(("status data", str(s["status_data"])))
    for key, value in rows:
        console.print(f"[bold]{key:>16}[/bold]  {value}")
    if len(s["kernels"]) > 1:
        console.print(f"[bold]         cluster[/bold]  {s['cluster_mode']}, "
                      f"{s['cluster_size']} kernels")
        for k in s["kernels"]:
            code = "" if k["exit_code"] is None else f" exit {k['exit_code']}"
            console.print(f"                  {k['cluster_hostname']:<7} {k['role']:<5} "
                          f"{k['id'][:8]}{code}")
    if lines := mount_lines(s):
        console.print("[bold]          mounts[/bold]")
        for line in lines:
            console.print(f"                  {escape(line)}")
    if s.get("idle"):
        console.print("[bold]     idle checks[/bold]")
        for line in idle_lines(s["idle"]):
            console.print(f"                  {line}")
    console.print("[bold]         history[/bold]")
    for h in s["history"]:
        console.print(f"                  {h['at']}  {h['status']:<11} {h['status_info']}")


@app.command("top")
@handle_errors
def top(
    once: Annotated[bool, typer.Option(
        "--once", help="Print the table once and exit (for scripts and tests).")] = False,
    interval: Annotated[float | None, typer.Option(
        min=1.0, help="Seconds between refreshes (default: the agents' sampling interval, "
        "5 s unless configured).")] = None,
    limit: Annotated[int, typer.Option(
        min=1, max=200, help="At most this many sessions (the newest).")] = 50,
) -> None:
    """Live usage of your RUNNING sessions, busiest CPU first: CPU (percent of one core, all
    kernels added up), memory used / limit, network received/sent and disk read/written per
    second, accelerator utilization and memory. Refreshes in place until Ctrl-C."""
    run_top(once, interval, limit)


@app.command("logs")
@handle_errors
def logs(
    ref: Annotated[str, typer.Argument(help="Session name or id.")],
    kernel: Annotated[str | None, typer.Option(
        help="Kernel id or hostname: main1, sub1, ... (default: main1).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
) -> None:
    """Print a kernel's container logs."""
    with client() as berth:
        for chunk in berth.logs(ref, kernel=kernel, follow=follow, tail=tail):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()


@app.command("rename")
@handle_errors
def rename(
    ref: Annotated[str, typer.Argument(help="Session name or id.")],
    new_name: Annotated[str, typer.Argument(help="The new name.")],
) -> None:
    """Rename a RUNNING session."""
    with client() as berth:
        s = berth.rename_session(ref, new_name)
    console.print(f"renamed to {s['name']}")


@app.command("terminate")
@handle_errors
def terminate(
    refs: Annotated[list[str], typer.Argument(help="Session names or ids.")],
    force: Annotated[
        bool, typer.Option("--force", help="Kill at once, whatever the status.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Wait until ended.")] = True,
) -> None:
    """Terminate sessions. Data in /home/work is lost; folders survive."""
    with client() as berth:
        for ref in refs:
            s = berth.terminate_session(ref, force=force)
            if wait:
                s = wait_with_progress(berth, s["id"], ENDED)
            console.print(f"{s['name']}: {styled_status(s['status'])} ({s['status_info']})")


@app.command("events")
@handle_errors
def events(
    session: Annotated[str | None, typer.Option(help="Only this session id.")] = None,
) -> None:
    """Print status changes as they happen (Ctrl-C to stop)."""

    def ready() -> None:
        err.print("Listening for status changes (Ctrl-C to stop)...")

    with client() as berth:
        for e in berth.events(session, on_ready=ready):
            console.print(
                f"{e['at']}  {e['name']:<24} {styled_status(e['status'])} {e['status_info']}"
            )


def run(
    command: Annotated[list[str], typer.Argument(help="The command (after --).")],
    image: ImageOpt,
    name: NameOpt = None,
    cpu: CpuOpt = None,
    mem: MemOpt = None,
    shmem: ShmemOpt = None,
    gpu: GpuOpt = None,
    gpu_shares: GpuSharesOpt = None,
    resource: ResourceOpt = None,
    env: EnvOpt = None,
    threads: ThreadsOpt = None,
    timeout: TimeoutOpt = None,
    start_at: StartOpt = None,
    resource_group: GroupOpt = "default",
    agent: AgentOpt = None,
    mount: MountOpt = None,
    project: ProjectOpt = None,
    priority: PriorityOpt = None,
) -> None:
    """Run a command in a new batch session, stream its output and exit with its exit code.

    Example: berth run -i berth/python:3.11 -- python -c 'print(6*7)'
    """
    import shlex

    @handle_errors
    def go() -> int:
        with client() as berth:
            [s] = _create(
                berth, mount,
                type="batch",
                name=name,
                image=image,
                startup_command=shlex.join(command),
                resources=_resources(cpu, mem, shmem, gpu, gpu_shares, resource),
                environ=_environ(env),
                threads=threads,
                timeout=_timeout(timeout),
                starts_at=_start_at(start_at),
                resource_group=resource_group,
                agent=agent,
                project=project,
                priority=priority,
            )
            with_status = wait_with_progress(berth, s["id"], {"RUNNING"} | ENDED)
            if with_status["status"] == "RUNNING" or with_status.get("started_at"):
                for chunk in berth.logs(s["id"], follow=True):
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
            final = berth.wait(s["id"])
            if final["exit_code"] is None or final["status"] != "TERMINATED":
                err.print(
                    f"session {final['name']} ended: {final['status']} "
                    f"({final['status_info']}) {final['status_data'].get('error', '')}"
                )
            return int(final["exit_code"]) if final["exit_code"] is not None else 1

    raise typer.Exit(go())
