"""ContainerBackend on the Docker Engine API (aiodocker). Never shells out to ``docker``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiodocker
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from berth.agent.accelerators.base import ContainerSettings
from berth.agent.backends import docker_commit
from berth.agent.backends.base import (
    CLUSTER_SSH_PORT,
    LABEL_ACCELERATORS,
    LABEL_AGENT,
    LABEL_APPS,
    LABEL_KERNEL,
    LABEL_NETWORK,
    LABEL_OWNER,
    LABEL_SESSION,
    LABEL_SESSION_NAME,
    BackendError,
    ContainerStatus,
    accelerators_label,
    read_accelerators_label,
)
from berth.rpc import AppPort, CreateKernel, ImageInfo

log = logging.getLogger(__name__)
KERNEL_UID = "1000:1000"
#: What an interactive kernel runs when it has nothing else to do; docker-init reaps zombies.
IDLE_COMMAND = ["sleep", "infinity"]
#: A kernel whose group allows sudo keeps these capabilities in its bounding set: what root
#: needs to install packages (apt drops to its own user, dpkg sets owners and modes) and to
#: run services on low ports. Docker's default set less NET_RAW (packet forging) and MKNOD
#: (device nodes). The kernel still starts as uid 1000 with no capabilities in effect; only
#: a setuid program (sudo) gains them, which ``no-new-privileges`` would forbid.
SUDO_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
             "SETPCAP", "SETFCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "AUDIT_WRITE"]


def parse_apps(label: str) -> list[AppPort]:
    """Parse ``name:protocol:port,...`` (the ``berth.apps`` image label)."""
    apps = []
    for item in filter(None, (p.strip() for p in label.split(","))):
        name, protocol, port = item.split(":")
        apps.append(AppPort(name=name, protocol=protocol, container_port=int(port)))
    return apps


def image_info(ref: str, labels: dict[str, str]) -> ImageInfo:
    return ImageInfo(
        ref=ref,
        display_name=labels.get("berth.display-name", ref),
        version=labels.get("berth.version", ref.rpartition(":")[2]),
        apps=parse_apps(labels.get("berth.apps", "")),
        min_cpu=float(labels.get("berth.min.cpu", "0") or 0),
        min_mem=int(labels.get("berth.min.mem", "0") or 0),
        labels={k: v for k, v in labels.items() if k.startswith("berth.")},
    )


def _published_ports(spec: CreateKernel, apps: list[AppPort]) -> list[AppPort]:
    # Each published port costs the engine a proxy process (~50 ms to start and to stop), so
    # batch sessions, which nobody opens apps in, publish only the ports the user asked for.
    interactive = spec.session_type == "interactive"
    ports = [a for a in apps if a.protocol in ("http", "tcp")] if interactive else []
    ports += [AppPort(name=f"port-{p}", protocol="preopen", container_port=p)
              for p in spec.preopen_ports]
    return ports


def container_config(
    spec: CreateKernel, agent_id: str, scratch_dir: str, apps: list[AppPort], pids_limit: int,
    port_range: str = "", cpuset: str = "", devices: ContainerSettings | None = None,
) -> dict[str, Any]:
    """The engine's create request for a kernel: non-root, no new privileges, no capabilities
    (``spec.sudo``: new privileges allowed, :data:`SUDO_CAPS` in the bounding set), a pids
    limit, the session's CPU/memory/shm limits and its scratch home; published ports
    from the agent's ``port_range`` (the engine picks a free one; empty: any) and the agent's
    ``cpuset``. A kernel of a cluster joins the session's network with its hostname as alias
    and runs :func:`cluster_bootstrap` before its command. ``devices``: the accelerators'
    settings (:func:`apply_devices`), with ``spec.accelerators`` on a label."""
    published = _published_ports(spec, apps)
    command = spec.command or IDLE_COMMAND
    if spec.cluster is not None:
        command = ["/bin/sh", "-c", cluster_bootstrap(wait=spec.command is not None)
                   + ' exec "$@"', "berth-cluster", *command]
    config: dict[str, Any] = {
        "Image": spec.image,
        "Cmd": command,
        "Env": [f"{k}={v}" for k, v in spec.environ.items()],
        "User": KERNEL_UID,
        "WorkingDir": "/home/work",
        "Hostname": spec.hostname,
        "Labels": {
            LABEL_KERNEL: spec.kernel_id,
            LABEL_SESSION: spec.session_id,
            LABEL_SESSION_NAME: spec.session_name,
            LABEL_OWNER: spec.owner_id,
            LABEL_AGENT: agent_id,
            LABEL_APPS: ",".join(f"{a.name}:{a.protocol}:{a.container_port}" for a in published),
        },
        "ExposedPorts": {f"{a.container_port}/tcp": {} for a in published},
        "HostConfig": {
            "NanoCpus": int(round(spec.cpu * 1e9)),
            "Memory": spec.mem,
            "MemorySwap": spec.mem,
            "ShmSize": spec.shmem,
            "PidsLimit": pids_limit,
            "SecurityOpt": [] if spec.sudo else ["no-new-privileges"],
            "CapDrop": ["ALL"],
            "CapAdd": SUDO_CAPS if spec.sudo else [],
            "Privileged": False,
            "Init": True,
            "Binds": [f"{scratch_dir}:/home/work"],
            # Folder mounts: "Mounts" (unlike "Binds") refuses a missing source instead of
            # creating it, so a lost folder fails the kernel rather than mounting an empty dir.
            "Mounts": [{"Type": "bind", "Source": m.source, "Target": m.target,
                        "ReadOnly": m.read_only, "BindOptions": {"Propagation": "rprivate"}}
                       for m in spec.mounts],
            "PortBindings": {
                f"{a.container_port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": port_range}]
                for a in published
            },
            "RestartPolicy": {"Name": "no"},
        },
    }
    if cpuset:
        config["HostConfig"]["CpusetCpus"] = cpuset
    if devices is not None:
        apply_devices(config, spec.environ, devices)
    if label := accelerators_label(spec.accelerators):
        config["Labels"][LABEL_ACCELERATORS] = label
    if spec.cluster is not None:
        network = spec.cluster.network
        config["Labels"][LABEL_NETWORK] = network
        config["HostConfig"]["NetworkMode"] = network
        config["NetworkingConfig"] = {
            "EndpointsConfig": {network: {"Aliases": [spec.cluster.hostname]}}}
    return config


def apply_devices(config: dict[str, Any], environ: dict[str, str],
                  devices: ContainerSettings) -> None:
    """Merge what a kernel's accelerators need into its create request ``config``: their
    environment over ``environ`` (the allocation's values win over the user's), device
    requests (``HostConfig.DeviceRequests``), bind mounts, and the host's IPC namespace when
    ``ipc_host`` (NVIDIA MPS; the engine then ignores ``ShmSize``: /dev/shm is the host's)."""
    if devices.env:
        config["Env"] = [f"{k}={v}" for k, v in {**environ, **devices.env}.items()]
    host = config["HostConfig"]
    if devices.device_requests:
        host["DeviceRequests"] = [*host.get("DeviceRequests", []), *devices.device_requests]
    host["Mounts"] += [{"Type": "bind", "Source": source, "Target": target,
                        "ReadOnly": read_only, "BindOptions": {"Propagation": "rprivate"}}
                       for source, target, read_only in devices.mounts]
    if devices.ipc_host:
        host["IpcMode"] = "host"


#: Seconds a batch cluster's main kernel waits for the others' sshd before its command runs.
CLUSTER_WAIT_SECONDS = 120


def cluster_bootstrap(wait: bool) -> str:
    """Shell run as the kernel's user before a cluster kernel's command: start sshd on
    :data:`CLUSTER_SSH_PORT` (host key per container, the session key of
    ``~/.ssh/authorized_keys``; skipped when the image has no sshd); with ``wait`` (a batch
    main kernel), wait until every other kernel's sshd answers (at most
    :data:`CLUSTER_WAIT_SECONDS`) so that the command can ``ssh sub1`` at once."""
    state = "/home/work/.berth-cluster"
    sshd = (
        f"/usr/sbin/sshd -f /etc/ssh/sshd_config -p {CLUSTER_SSH_PORT} -h {state}/host_ed25519 "
        f"-o PidFile={state}/sshd.pid -o UsePAM=no -o StrictModes=no "
        "-o AuthorizedKeysFile=/home/work/.ssh/authorized_keys -o PasswordAuthentication=no "
        f"-o KbdInteractiveAuthentication=no -o PermitRootLogin=no -E {state}/sshd.log"
    )
    script = (
        f"if [ -x /usr/sbin/sshd ]; then mkdir -p {state} && chmod 700 {state} && "
        f"{{ [ -f {state}/host_ed25519 ] || ssh-keygen -q -t ed25519 -N '' "
        f"-f {state}/host_ed25519; }} && {sshd} && "
        f'echo "berth: cluster kernel $BERTH_CLUSTER_HOST ($BERTH_CLUSTER_ROLE) has sshd on '
        f'port {CLUSTER_SSH_PORT}"; fi;'
    )
    if wait:
        script += (
            f' if [ "$BERTH_CLUSTER_ROLE" = main ] && command -v ssh >/dev/null 2>&1; then '
            f"end=$(( $(date +%s) + {CLUSTER_WAIT_SECONDS} )); "
            'for h in $(echo "$BERTH_CLUSTER_HOSTS" | tr , " "); do '
            '[ "$h" = "$BERTH_CLUSTER_HOST" ] && continue; '
            'until ssh -o BatchMode=yes -o ConnectTimeout=2 "$h" true >/dev/null 2>&1 '
            '|| [ "$(date +%s)" -ge "$end" ]; do sleep 0.5; done; done; fi;'
        )
    return script


def _status(data: dict[str, Any], warn: Callable[[str], None] = log.warning
            ) -> ContainerStatus:
    """The container's status as the engine's inspect ``data`` says; ``warn`` hears about
    a bad accelerators label (see :func:`read_accelerators_label`)."""
    labels = data["Config"]["Labels"] or {}
    state = data["State"]
    bound = (data.get("NetworkSettings") or {}).get("Ports") or {}
    apps = parse_apps(labels.get(LABEL_APPS, ""))
    for app in apps:
        hosts = bound.get(f"{app.container_port}/tcp") or []
        ipv4 = [h for h in hosts if h.get("HostIp") == "127.0.0.1"] or hosts
        app.host_port = int(ipv4[0]["HostPort"]) if ipv4 else None
    running = bool(state.get("Running"))
    accelerators = read_accelerators_label(labels[LABEL_KERNEL],
                                           labels.get(LABEL_ACCELERATORS, ""), warn)
    if state.get("Status") == "created":
        # Created but never started: not an exit (the agent may be about to start it).
        return ContainerStatus(
            kernel_id=labels[LABEL_KERNEL],
            session_id=labels[LABEL_SESSION],
            container_id=data["Id"],
            running=False,
            started=False,
            accelerators=accelerators,
        )
    return ContainerStatus(
        kernel_id=labels[LABEL_KERNEL],
        session_id=labels[LABEL_SESSION],
        container_id=data["Id"],
        running=running,
        exit_code=None if running else state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        app_ports=apps,
        accelerators=accelerators,
    )


class DockerBackend:
    """Kernels as Docker containers named ``berth-<kernel id>``."""

    def __init__(self, agent_id: str, pids_limit: int = 4096, port_range: str = "",
                 cpuset: str = "") -> None:
        self.agent_id = agent_id
        self.pids_limit = pids_limit
        self.port_range = port_range
        self.cpuset = cpuset
        self.docker = aiodocker.Docker()
        #: Per session: creating its network and removing it after its last kernel.
        self.network_locks: dict[str, asyncio.Lock] = {}
        #: Bad labels already logged: every heartbeat lists the containers again.
        self._warned: set[str] = set()

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    @staticmethod
    def container_name(kernel_id: str) -> str:
        return f"berth-{kernel_id}"

    async def list_images(self) -> list[ImageInfo]:
        found = await self.docker.images.list(filters={"label": ["berth.kind=environment"]})
        infos = []
        for image in found:
            for ref in image.get("RepoTags") or []:
                if ref != "<none>:<none>":
                    infos.append(image_info(ref, image.get("Labels") or {}))
        return sorted(infos, key=lambda i: i.ref)

    async def _image_apps(self, ref: str) -> list[AppPort]:
        try:
            data = await self.docker.images.inspect(ref)
        except DockerError as e:
            raise BackendError(f"image {ref} is not on this agent: {e.message}") from e
        return parse_apps((data.get("Config") or {}).get("Labels", {}).get("berth.apps", ""))

    async def create_and_start(self, spec: CreateKernel, scratch_dir: str,
                               devices: ContainerSettings | None = None) -> ContainerStatus:
        apps = await self._image_apps(spec.image)
        config = container_config(spec, self.agent_id, scratch_dir, apps, self.pids_limit,
                                  self.port_range, self.cpuset, devices)
        if spec.cluster is not None:
            await self._ensure_network(spec.session_id, spec.cluster.network)
        name = self.container_name(spec.kernel_id)
        try:
            container = await self.docker.containers.create(config, name=name)
        except DockerError as e:
            raise BackendError(f"the engine refused the container: {e.message}") from e
        try:
            await container.start()
            return _status(await container.show(), self._warn_once)
        except DockerError as e:
            await self._remove(container)
            raise BackendError(f"the container did not start: {e.message}") from e

    async def _get(self, kernel_id: str) -> DockerContainer | None:
        try:
            container = await self.docker.containers.get(self.container_name(kernel_id))
        except DockerError as e:
            if e.status == 404:
                return None
            raise
        return container

    async def list_kernels(self) -> list[ContainerStatus]:
        found = await self.docker.containers.list(
            all=True, filters={"label": [f"{LABEL_AGENT}={self.agent_id}"]}
        )
        statuses = []
        for container in found:
            try:
                statuses.append(_status(await container.show(), self._warn_once))
            except DockerError as e:
                if e.status != 404:  # removed between list and show
                    raise
        return statuses

    async def wait(self, kernel_id: str) -> ContainerStatus | None:
        container = await self._get(kernel_id)
        if container is None:
            return None
        try:
            await container.wait(timeout=None)
            return _status(await container.show(), self._warn_once)
        except DockerError as e:
            if e.status == 404:
                return None
            raise

    async def stop(self, kernel_id: str, grace: float) -> ContainerStatus | None:
        container = await self._get(kernel_id)
        if container is None:
            return None
        try:
            await container.stop(t=max(0, int(grace)))
            return _status(await container.show(), self._warn_once)
        except DockerError as e:
            if e.status == 404:
                return None
            raise

    async def remove(self, kernel_id: str) -> None:
        container = await self._get(kernel_id)
        if container is not None:
            try:
                labels = (await container.show())["Config"]["Labels"] or {}
            except DockerError as e:
                if e.status != 404:
                    raise
                labels = {}
            await self._remove(container)
            if labels.get(LABEL_NETWORK) and (session_id := labels.get(LABEL_SESSION)):
                await self.release_network(session_id)

    # ---- cluster networks ----
    @staticmethod
    def network_name(session_id: str) -> str:
        return f"berth-{session_id}"

    async def _ensure_network(self, session_id: str, name: str) -> None:
        """The session's private bridge network, created once (labelled with the agent and
        the session, so that it is found again after a restart and cleaned up with them)."""
        async with self.network_locks.setdefault(session_id, asyncio.Lock()):
            try:
                await self.docker.networks.get(name)
                return
            except DockerError as e:
                if e.status != 404:
                    raise BackendError(f"cannot look up the network {name}: {e.message}") from e
            try:
                await self.docker.networks.create({
                    "Name": name, "Driver": "bridge", "CheckDuplicate": True,
                    "Labels": {LABEL_AGENT: self.agent_id, LABEL_SESSION: session_id}})
            except DockerError as e:
                if e.status != 409:  # made meanwhile by another process: fine
                    raise BackendError(f"the engine refused the network {name}: "
                                       f"{e.message}") from e

    async def release_network(self, session_id: str) -> None:
        """Remove the session's network once none of its containers is left. Idempotent."""
        async with self.network_locks.setdefault(session_id, asyncio.Lock()):
            left = await self.docker.containers.list(all=True, filters={"label": [
                f"{LABEL_AGENT}={self.agent_id}", f"{LABEL_SESSION}={session_id}"]})
            if not left:
                await self._delete_network(self.network_name(session_id))
                self.network_locks.pop(session_id, None)

    async def _delete_network(self, name: str) -> None:
        try:
            network = await self.docker.networks.get(name)
            await network.delete()
        except DockerError as e:
            if e.status not in (404, 409, 403):  # gone, or still in use (removed later)
                raise

    async def sweep_networks(self) -> None:
        """Remove this agent's session networks that no container uses any more (left by a
        crash between removing a session's last container and its network)."""
        networks = await self.docker.networks.list(
            filters={"label": [f"{LABEL_AGENT}={self.agent_id}"]})
        for data in networks:
            session_id = (data.get("Labels") or {}).get(LABEL_SESSION)
            if session_id:
                await self.release_network(session_id)

    async def _remove(self, container: DockerContainer) -> None:
        try:
            await container.delete(force=True, v=True)
        except DockerError as e:
            if e.status not in (404, 409):  # gone already, or removal in progress
                raise

    async def logs(self, kernel_id: str, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        """Raises KeyError when the container is gone (also when it is removed between the
        lookup and the read: a batch kernel that just ended); a stream whose container is
        removed while it is read just ends."""
        container = await self._get(kernel_id)
        if container is None:
            raise KeyError(kernel_id)
        params: dict[str, Any] = {"tail": str(tail) if tail else "all"}
        sent = False
        try:
            if follow:
                # An empty first chunk lets the RPC answer (headers) at once, even when the
                # container prints nothing for a long time: the manager bounds that wait.
                yield b""
                async for chunk in container.log(stdout=True, stderr=True, follow=True, **params):
                    sent = True
                    yield chunk.encode() if isinstance(chunk, str) else chunk
            else:
                lines = await container.log(stdout=True, stderr=True, **params)
                sent = True
                yield "".join(lines).encode()
        except DockerError as e:
            if e.status not in (404, 409):  # 409: dead or being removed
                raise
            if not sent:
                raise KeyError(kernel_id) from e

    # ---- Exec capability ----
    async def _exec(self, kernel_id: str, cmd: list[str], tty: bool) -> Exec:
        container = await self._get(kernel_id)
        if container is None:
            raise KeyError(kernel_id)
        try:
            return await container.exec(
                cmd, stdin=tty, tty=tty, user=KERNEL_UID, workdir="/home/work",
                environment={"TERM": "xterm-256color", "HOME": "/home/work", "USER": "work"},
            )
        except DockerError as e:
            raise BackendError(f"cannot run a command in the kernel: {e.message}") from e

    async def exec_script(self, kernel_id: str, script: str, limit_s: float) -> tuple[int, str]:
        execution = await self._exec(kernel_id, ["sh", "-c", script], tty=False)
        output = bytearray()

        async def collect() -> None:
            async with execution.start(detach=False) as stream:
                while (message := await stream.read_out()) is not None:
                    output.extend(message.data)

        try:
            await asyncio.wait_for(collect(), limit_s)
        except TimeoutError as e:
            raise BackendError(f"the command did not finish within {limit_s:.0f} s") from e
        code = (await execution.inspect()).get("ExitCode")
        return (code if code is not None else -1), output.decode(errors="replace")

    async def open_terminal(self, kernel_id: str, command: list[str], cols: int,
                            rows: int) -> DockerTerminal:
        execution = await self._exec(kernel_id, command, tty=True)
        stream = execution.start(detach=False)
        await stream.__aenter__()
        terminal = DockerTerminal(execution, stream)
        with contextlib.suppress(DockerError):
            await terminal.resize(cols, rows)
        return terminal

    # ---- Committer capability (backends/docker_commit.py) ----
    async def commit(self, kernel_id: str, ref: str, labels: dict[str, str],
                     phase: Callable[[str], None], fault: str = "") -> int:
        return await docker_commit.commit_kernel(self.docker, self.agent_id,
                                                 self.container_name(kernel_id), ref, labels,
                                                 phase, fault)

    async def remove_image(self, ref: str) -> bool:
        return await docker_commit.remove_image(self.docker, ref)

    async def sweep_partial_images(self) -> int:
        return await docker_commit.sweep_partial_images(self.docker, self.agent_id)

    async def close(self) -> None:
        await asyncio.shield(self.docker.close())


class DockerTerminal:
    """A TTY exec session: output from the engine's hijacked stream, input written to it."""

    def __init__(self, execution: Exec, stream: Stream) -> None:
        self.execution = execution
        self.stream = stream

    async def read(self) -> bytes:
        message = await self.stream.read_out()
        return b"" if message is None else bytes(message.data)

    async def write(self, data: bytes) -> None:
        await self.stream.write_in(data)

    async def resize(self, cols: int, rows: int) -> None:
        await self.execution.resize(w=max(1, cols), h=max(1, rows))

    async def close(self) -> None:
        await self.stream.close()
