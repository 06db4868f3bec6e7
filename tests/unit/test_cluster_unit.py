"""Cluster sessions and several agents, the pure parts: the kernels of a cluster, its SSH key
(checked with the real ssh-keygen), the launch rules, the create request each kernel gets,
the engine's create request (network, port range, cpuset) and the agent's settings."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from berth.agent.backends.docker import container_config
from berth.agent.node import write_cluster_ssh
from berth.agent.server import agent_info, host_capacity
from berth.domain import cluster
from berth.domain.launch import (
    AgentFacts,
    ImageFacts,
    LaunchContext,
    LaunchPlan,
    LaunchRequest,
    validate_launch,
)
from berth.domain.reconcile import (
    Destroy,
    EndSession,
    Fail,
    Graces,
    KernelView,
    RecordKernel,
    SessionView,
    reconcile_session,
)
from berth.domain.status import SessionStatus, SessionType, StatusInfo
from berth.manager.db.tables import KernelRow, SessionRow
from berth.manager.services.handover import kernel_spec
from berth.rpc import ClusterSpec, CreateKernel, KernelReport, KernelState
from berth.settings import AgentSettings, format_cpuset, parse_cpuset, parse_port_range

GiB = 2**30
IMAGE = ImageFacts("berth/python:3.11", {"cpu": "1", "mem": str(GiB)}, frozenset({8888}))
CTX = LaunchContext(
    owner_id="u1", project_id="p1", image=IMAGE,
    agents=[AgentFacts("a1", {"cpu": Decimal(4), "mem": Decimal(8 * GiB)}),
            AgentFacts("a2", {"cpu": Decimal(2), "mem": Decimal(8 * GiB)})],
    taken_names=frozenset(), name_seed="cafe", now=datetime(2030, 6, 1, tzinfo=UTC),
)
REQ = LaunchRequest(image=IMAGE.ref)
NOW = datetime(2030, 6, 1, tzinfo=UTC)


def test_layout_names_main1_then_subs() -> None:
    assert cluster.layout(1) == [cluster.KernelSlot("main", 1, "main1")]
    assert [(k.role, k.idx, k.hostname) for k in cluster.layout(3)] == [
        ("main", 1, "main1"), ("sub", 2, "sub1"), ("sub", 3, "sub2")]
    with pytest.raises(ValueError):
        cluster.layout(0)


def test_openssh_reads_the_private_key_and_derives_the_same_public_key(tmp_path: Path) -> None:
    private, public = cluster.ssh_keypair()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ") and public.endswith(" berth-cluster")
    path = tmp_path / "id"
    path.write_text(private)
    path.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True,
                             text=True, check=True).stdout.split()
    assert derived[:2] == public.split()[:2]
    assert cluster.public_of(private) == public
    assert cluster.ssh_keypair()[1] != public  # a new key each time


def test_launch_accepts_a_cluster_that_fits_one_agent() -> None:
    plan = validate_launch(replace(REQ, cluster_size=4), CTX)  # 4 x 1 core on a1 (4 cores)
    assert isinstance(plan, LaunchPlan)
    assert (plan.cluster_size, plan.cluster_mode) == (4, "single-node")


def test_launch_refuses_a_cluster_larger_than_every_agent() -> None:
    errors = validate_launch(replace(REQ, cluster_size=5), CTX)
    assert isinstance(errors, list)
    assert {e.field: e.message for e in errors} == {
        "cluster_size": "5 kernels need 5 cores (cpu) on one agent; the largest has 4 cores"}
    # a designated agent counts alone
    errors = validate_launch(replace(REQ, cluster_size=3, agent="a2"), CTX)
    assert isinstance(errors, list) and errors[0].field == "cluster_size"


def test_launch_refuses_multi_node() -> None:
    errors = validate_launch(replace(REQ, cluster_size=2, cluster_mode="multi-node"), CTX)
    assert isinstance(errors, list)
    assert {e.field: e.message for e in errors} == {
        "cluster_mode": "multi-node clusters are not supported yet; use single-node"}


def _row(size: int, type_: str = "batch") -> SessionRow:
    private, _ = cluster.ssh_keypair()
    row = SessionRow(
        id="s1", name="c", owner_id="u", creator_id="u", project_id="p", type=type_,
        image="img", resource_group="default",
        requested_slots={"cpu": "1", "mem": str(GiB), "shmem": str(64 * 2**20)},
        environ={}, startup_command="echo hi", preopen_ports=[], mounts=[],
        cluster_mode="single-node", cluster_size=size,
        cluster_secret=private if size > 1 else None,
        kernels=[KernelRow(id=f"k{k.idx}", role=k.role, cluster_idx=k.idx,
                           cluster_hostname=k.hostname) for k in cluster.layout(size)],
    )
    return row


def test_kernel_spec_of_a_cluster_kernel() -> None:
    row = _row(3)
    main, sub = (kernel_spec(row, k.id, k.cluster_hostname) for k in row.kernels[:2])
    assert main.cluster is not None and sub.cluster is not None
    assert (sub.cluster.role, sub.cluster.idx, sub.cluster.hostname) == ("sub", 2, "sub1")
    assert sub.cluster.hostnames == ["main1", "sub1", "sub2"]
    assert sub.cluster.network == "berth-s1"
    assert sub.cluster.ssh_public_key == cluster.public_of(row.cluster_secret or "")
    assert {k: v for k, v in sub.environ.items() if k.startswith("BERTH_CLUSTER")} == {
        "BERTH_CLUSTER_ROLE": "sub", "BERTH_CLUSTER_IDX": "2", "BERTH_CLUSTER_HOST": "sub1",
        "BERTH_CLUSTER_HOSTS": "main1,sub1,sub2", "BERTH_CLUSTER_SIZE": "3"}
    # the batch command runs in main1; the others wait
    assert main.command == ["/bin/sh", "-c", "echo hi"] and sub.command is None


def test_kernel_spec_of_a_single_kernel_has_no_cluster() -> None:
    spec = kernel_spec(_row(1), "k1", "main1")
    assert spec.cluster is None and "BERTH_CLUSTER_ROLE" not in spec.environ


def _spec(**cluster_fields: object) -> CreateKernel:
    spec = CreateKernel(kernel_id="k", session_id="s", session_name="n", owner_id="o",
                        session_type="interactive", image="img", cpu=1, mem=GiB, shmem=2**26,
                        preopen_ports=[9000])
    if cluster_fields:
        spec.hostname = "sub1"
        spec.cluster = ClusterSpec(size=2, role="sub", idx=2, hostname="sub1",
                                   hostnames=["main1", "sub1"], network="berth-s",
                                   ssh_private_key="k", ssh_public_key="p")
    return spec


def test_engine_request_uses_the_port_range_and_cpuset() -> None:
    config = container_config(_spec(), "a", "/tmp/x", [], 64, port_range="30000-30099",
                              cpuset="1")
    assert config["HostConfig"]["PortBindings"] == {
        "9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "30000-30099"}]}
    assert config["HostConfig"]["CpusetCpus"] == "1"
    plain = container_config(_spec(), "a", "/tmp/x", [], 64)
    assert "CpusetCpus" not in plain["HostConfig"] and "NetworkingConfig" not in plain
    assert plain["HostConfig"]["PortBindings"]["9000/tcp"][0]["HostPort"] == ""


def test_engine_request_allows_sudo_only_when_the_group_does() -> None:
    plain = container_config(_spec(), "a", "/tmp/x", [], 64)["HostConfig"]
    assert plain["SecurityOpt"] == ["no-new-privileges"] and plain["CapDrop"] == ["ALL"]
    assert plain["CapAdd"] == [] and plain["Privileged"] is False
    sudo = container_config(_spec().model_copy(update={"sudo": True}), "a", "/tmp/x", [],
                            64)
    host = sudo["HostConfig"]
    assert host["SecurityOpt"] == [] and host["CapDrop"] == ["ALL"]
    assert host["Privileged"] is False and sudo["User"] == "1000:1000"
    assert "SETUID" in host["CapAdd"] and "DAC_OVERRIDE" in host["CapAdd"]
    assert not {"NET_RAW", "MKNOD", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"} & set(host["CapAdd"])


def test_engine_request_of_a_cluster_kernel_joins_the_session_network() -> None:
    config = container_config(_spec(cluster=True), "a", "/tmp/x", [], 64)
    assert config["HostConfig"]["NetworkMode"] == "berth-s"
    assert config["NetworkingConfig"] == {"EndpointsConfig": {"berth-s": {"Aliases": ["sub1"]}}}
    assert config["Hostname"] == "sub1"
    assert config["Cmd"][:2] == ["/bin/sh", "-c"] and config["Cmd"][-2:] == ["sleep", "infinity"]
    assert "/usr/sbin/sshd" in config["Cmd"][2]


def test_cluster_key_files_in_the_home(tmp_path: Path) -> None:
    spec = _spec(cluster=True)
    assert spec.cluster is not None
    write_cluster_ssh(tmp_path, spec.cluster)
    ssh = tmp_path / ".ssh"
    assert (ssh / "id_cluster").read_text() == "k\n"
    assert (ssh / "authorized_keys").read_text() == "p\n"
    assert (ssh / "id_cluster").stat().st_mode & 0o777 == 0o600
    config = (ssh / "config").read_text()
    assert config.startswith("Host main1 sub* sub1\n")
    assert "IdentityFile ~/.ssh/id_cluster" in config and "Port 2222" in config


def test_port_range_and_cpuset_parsing() -> None:
    assert parse_port_range("") is None
    assert parse_port_range("30000-30002") == range(30000, 30003)
    for bad in ("30000-", "80-90", "3-2", "x"):
        with pytest.raises(ValueError):
            parse_port_range(bad)
    assert parse_cpuset("0,2-3", 4) == [0, 2, 3]
    assert format_cpuset([0, 1, 2, 5]) == "0-2,5"
    with pytest.raises(ValueError, match=r"names core\(s\) 4, but this host has 4 \(0-3\)"):
        parse_cpuset("3-4", 4)


def test_agent_settings_check_the_cpuset_against_the_host(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.raises(ValidationError, match="this host has 2"):
        AgentSettings(cpuset="0-2")
    settings = AgentSettings(cpuset="1", port_range="30000-30099", mem=GiB)
    assert host_capacity(settings)["cpu"] == "1.0"  # the cpuset's size
    assert host_capacity(AgentSettings(cpuset="0-1", cpu=0.5, mem=GiB))["cpu"] == "0.5"
    assert agent_info(settings) == {"port_range": "30000-30099", "cpuset": "1",
                                    "backend": "docker"}


# --- the reconciliation of a session of several kernels ---------------------------------

def _view(status: SessionStatus) -> SessionView:
    return SessionView(id="s", status=status, type=SessionType.BATCH,
                       status_changed_at=NOW - timedelta(seconds=60))


KERNELS = [KernelView("k1", "s"), KernelView("k2", "s"), KernelView("k3", "s")]


def _report(kernel_id: str, state: KernelState, code: int | None = None) -> KernelReport:
    return KernelReport(kernel_id=kernel_id, session_id="s", state=state,
                        container_id=f"c-{kernel_id}", exit_code=code)


def test_one_exited_kernel_of_three_ends_the_whole_session() -> None:
    reports = {"k1": _report("k1", KernelState.RUNNING),
               "k2": _report("k2", KernelState.EXITED, 137),
               "k3": _report("k3", KernelState.RUNNING)}
    actions = reconcile_session(_view(SessionStatus.RUNNING), KERNELS, reports, "a", NOW,
                                Graces())
    ends = [a for a in actions if isinstance(a, EndSession)]
    assert len(ends) == 1 and ends[0].exit_code == 137
    assert ends[0].final_info == StatusInfo.TASK_FAILED
    assert Destroy("s") in actions  # every kernel of the session


def test_a_kernel_of_three_missing_past_the_grace_fails_the_session() -> None:
    reports = {"k1": _report("k1", KernelState.RUNNING), "k3": _report("k3", KernelState.RUNNING)}
    actions = reconcile_session(_view(SessionStatus.RUNNING), KERNELS, reports, "a", NOW,
                                Graces())
    assert [a for a in actions if isinstance(a, Fail)][0].info == StatusInfo.KERNEL_LOST


def test_started_kernels_are_each_recorded() -> None:
    reports = {k.id: _report(k.id, KernelState.RUNNING) for k in KERNELS}
    actions = reconcile_session(_view(SessionStatus.CREATING), KERNELS, reports, "a", NOW,
                                Graces())
    assert [a.kernel_id for a in actions if isinstance(a, RecordKernel)] == ["k1", "k2", "k3"]
