"""An in-machine Berth cluster for tests: a real manager and one or more real agents, each its
own process (so they can be killed and restarted), on SQLite or PostgreSQL, with unique agent
ids so that clusters sharing the Docker engine never touch each other's containers.

Several agents (``Cluster(agents=[{...}, {...}])``, one dict of ``BERTH_AGENT_*`` settings
each) share the one Docker engine like agents on one machine: each has its own id, RPC port,
data directory, capacity and a port range of its own for its kernels' published ports. The
first agent is ``cluster.agent_id`` / ``start_agent()`` / ``stop_agent()`` as before."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from berth.client import ENDED, Client

T = TypeVar("T")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own, so it also works where an event loop is already
    running in this thread (Playwright's sync API keeps one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.2,
             what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(kind: str, prefix: str = "berth_db") -> Iterator[str]:
    """An empty database of its own, migrated to the newest schema: ``kind`` "postgres" (a
    new database on the test server, dropped afterwards) or "sqlite" (a file in a temporary
    directory). Yields its SQLAlchemy URL."""
    from berth.manager.db.engine import upgrade_sync

    if kind == "postgres":
        name = f"{prefix}_{secrets.token_hex(4)}"
        run_async(_pg(f'CREATE DATABASE "{name}"'))
        try:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            upgrade_sync(url)
            yield url
        finally:
            run_async(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as root:
            url = f"sqlite+aiosqlite:///{Path(root) / 'berth.db'}"
            upgrade_sync(url)
            yield url


@dataclass
class AgentProcess:
    """One agent of a :class:`Cluster`: its id, RPC port, settings and process."""

    id: str
    port: int
    env: dict[str, str]
    log_name: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port_range(self) -> str:
        return self.env.get("BERTH_AGENT_PORT_RANGE", "")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


#: Agents of multi-agent clusters publish kernel ports in slices of this many ports from
#: 15000-19999, below the app proxy's pools (20000-32000) and the ephemeral range.
PORT_SLICE = 100


class Cluster:
    def __init__(self, db: str = "sqlite", agent_env: dict[str, str] | None = None,
                 manager_env: dict[str, str] | None = None,
                 agents: Sequence[Mapping[str, str | None]] | None = None) -> None:
        """``agent_env``: settings of every agent; ``agents``: one dict of settings per agent
        (default: a single agent), each on top of ``agent_env`` (None removes a setting).
        With more than one agent, each gets a port range of its own unless its dict sets
        one."""
        self.db = db
        self.root = Path(tempfile.mkdtemp(prefix="berth-test-"))
        self.agent_id = f"test-{secrets.token_hex(4)}"
        self.port = free_port()
        self.agent_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pg_name = f"berth_{self.agent_id.replace('-', '_')}"
        if db == "postgres":
            database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_name}"
        else:
            database_url = f"sqlite+aiosqlite:///{self.root / 'berth.db'}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        # Its own slice of the app proxy's pool, below the kernel's ephemeral port range.
        first = 20000 + secrets.randbelow(400) * 30
        self.proxy_pool = range(first, first + 30)
        self.manager_env = {
            "BERTH_PROXY_PORTS": f"{first}-{first + 29}",
            **base, "BERTH_DATA_DIR": str(self.root), "BERTH_PORT": str(self.port),
            "BERTH_DATABASE_URL": database_url, "BERTH_SCHEDULE_INTERVAL": "0.5",
            "BERTH_HEARTBEAT_TIMEOUT": "10", "BERTH_CONFIG": str(self.root / "none.toml"),
            **(manager_env or {}),
        }
        self.agent_env = {
            # The manager's data dir too: the agent looks for the token there first.
            **base, "BERTH_DATA_DIR": str(self.root),
            "BERTH_AGENT_DATA_DIR": str(self.root), "BERTH_AGENT_ID": self.agent_id,
            "BERTH_AGENT_PORT": str(self.agent_port), "BERTH_AGENT_MANAGER_URL": self.url,
            "BERTH_AGENT_CPU": "4", "BERTH_AGENT_MEM": str(4 * 2**30),
            "BERTH_AGENT_HEARTBEAT_INTERVAL": "1", "BERTH_CONFIG": str(self.root / "none.toml"),
            **(agent_env or {}),
        }
        self.nodes: list[AgentProcess] = []
        wanted = list(agents or [{}])
        first_slice = secrets.randbelow(50 // len(wanted) or 1) * len(wanted)
        for i, extra in enumerate(wanted):
            agent_id = self.agent_id if i == 0 else f"{self.agent_id}-{i}"
            port = self.agent_port if i == 0 else free_port()
            env = dict(self.agent_env) if i == 0 else {
                **self.agent_env, "BERTH_AGENT_ID": agent_id, "BERTH_AGENT_PORT": str(port),
                "BERTH_AGENT_DATA_DIR": str(self.root / agent_id)}
            if len(wanted) > 1:
                first = 15000 + (first_slice + i) * PORT_SLICE
                env["BERTH_AGENT_PORT_RANGE"] = f"{first}-{first + PORT_SLICE - 1}"
            for key, value in extra.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
            self.nodes.append(AgentProcess(env["BERTH_AGENT_ID"], int(env["BERTH_AGENT_PORT"]),
                                           env, "agent" if i == 0 else f"agent-{i}"))
        self.agent_env = self.nodes[0].env
        self.manager: subprocess.Popen[bytes] | None = None
        self.admin_password = ""
        self.clients: list[Client] = []

    # ---- processes ----
    @property
    def agent(self) -> subprocess.Popen[bytes] | None:
        """The first agent's process."""
        return self.nodes[0].proc

    @property
    def agent_ids(self) -> list[str]:
        return [n.id for n in self.nodes]

    def node(self, which: int | str = 0) -> AgentProcess:
        """An agent by index or id."""
        if isinstance(which, int):
            return self.nodes[which]
        return next(n for n in self.nodes if n.id == which)

    def _spawn(self, what: str, env: dict[str, str],
               log_name: str | None = None) -> subprocess.Popen[bytes]:
        log = (self.root / f"{log_name or what}.log").open("ab")
        return subprocess.Popen([sys.executable, "-m", "berth.cli.main", what,
                                 "--log-level", "info"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> Cluster:
        """Start the manager and the agents; returns once every agent is ALIVE. A start that
        fails stops what it started (no process, container or database is left behind)."""
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> Cluster:
        if self.db == "postgres":
            run_async(_pg(f'CREATE DATABASE "{self.pg_name}"'))
        self.admin_password = self._bootstrap()
        self.start_manager()
        for node in self.nodes:
            self.start_agent(node.id)
        admin = self.client()
        admin.login("admin@berth.local", self.admin_password)
        self.admin = admin
        wait_for(lambda: self._agent_alive(admin), 60, what="the agents to register")
        return self

    def _bootstrap(self) -> str:
        """What ``berth up`` does before the manager starts (schema, defaults, the first
        superadmin), in this process: a subprocess would pay Python's start-up and imports
        again for every cluster."""
        from berth.manager.db.engine import make_engine, make_sessionmaker, upgrade_sync
        from berth.manager.services.users import ensure_defaults, ensure_first_admin
        from berth.settings import read_or_create_secret

        url = self.manager_env["BERTH_DATABASE_URL"]
        data_dir = Path(self.manager_env["BERTH_DATA_DIR"])

        async def go() -> None:
            await asyncio.to_thread(upgrade_sync, url)  # Alembic runs a loop of its own
            engine = make_engine(url)
            try:
                maker = make_sessionmaker(engine)
                await ensure_defaults(maker)
                await ensure_first_admin(maker, data_dir / "initial-credentials")
            finally:
                await engine.dispose()

        run_async(go())
        read_or_create_secret(data_dir / "agent-token")  # before the agents read it
        text = (data_dir / "initial-credentials").read_text()
        return text.split("password = ")[1].strip()

    def _agent_alive(self, c: Client, ids: Sequence[str] | None = None) -> bool:
        """Every agent of ``ids`` (default: all of this cluster's) is ALIVE, and images are
        known."""
        alive = {a["id"] for a in c.request("GET", "/api/agents") if a["status"] == "ALIVE"}
        return set(ids or self.agent_ids) <= alive and bool(c.images())

    def _wait_http(self, url: str) -> None:
        def up() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code < 500
            except httpx.HTTPError:
                return False
        wait_for(up, 60, what=url)

    def start_manager(self) -> None:
        self.manager = self._spawn("manager", self.manager_env)
        self._wait_http(f"{self.url}/api/health")

    def start_agent(self, which: int | str = 0) -> None:
        node = self.node(which)
        node.proc = self._spawn("agent", node.env, node.log_name)
        self._wait_http(f"http://127.0.0.1:{node.port}/v1/health")

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def stop_manager(self, sig: int = signal.SIGTERM) -> None:
        self._stop(self.manager, sig)

    def stop_agent(self, sig: int = signal.SIGTERM, which: int | str = 0) -> None:
        self._stop(self.node(which).proc, sig)

    def restart_agent(self, which: int | str = 0) -> None:
        """Stop one agent and start it again; returns once the manager has it ALIVE."""
        node = self.node(which)
        self.stop_agent(which=node.id)
        self.start_agent(node.id)
        wait_for(lambda: self._agent_alive(self.admin, [node.id]), 60,
                 what=f"agent {node.id} to register again")

    # ---- clients ----
    def client(self, api_key: str = "") -> Client:
        c = Client(endpoint=self.url, api_key=api_key)
        self.clients.append(c)
        return c

    def user(self, email: str | None = None, role: str = "user") -> Client:
        email = email or f"u-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        self.admin.request("POST", "/api/users",
                           json={"email": email, "password": password, "role": role})
        c = self.client()
        c.login(email, password)
        c.email = email  # type: ignore[attr-defined]
        c.password = password  # type: ignore[attr-defined]
        return c

    # ---- teardown ----
    def end_all_sessions(self) -> None:
        """Force-terminate every session of this cluster and wait until all have ended
        (a page of 200 at a time: a benchmark may leave thousands)."""
        asked: set[str] = set()
        total = self.admin.list_sessions(state="running", limit=1)["total"]

        def none_left() -> bool:
            page = self.admin.list_sessions(state="running", limit=200)
            for s in page["items"]:
                if s["id"] not in asked:
                    asked.add(s["id"])
                    with contextlib.suppress(Exception):  # it may have ended meanwhile
                        self.admin.terminate_session(s["id"], force=True)
            return page["total"] == 0
        wait_for(none_left, 60 + total / 20, what="all sessions to end")

    def close(self) -> None:
        try:
            manager_up = self.manager is not None and self.manager.poll() is None
            started = hasattr(self, "admin")  # start() got as far as logging in
            if started and manager_up and all(n.alive() for n in self.nodes):
                self.end_all_sessions()
        finally:
            for node in self.nodes:
                self._stop(node.proc)
            self.stop_manager()
            for c in self.clients:
                c.close()
            for node in self.nodes:
                run_async(_remove_containers(node.id))
            if self.db == "postgres":
                run_async(_pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            shutil.rmtree(self.root, ignore_errors=True)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run one statement on the manager's database, as an operator's hand edit would
        (tests plant rows the API would never write); returns the rows, if any."""
        from sqlalchemy import text

        from berth.manager.db.engine import make_engine

        async def go() -> list[Any]:
            engine = make_engine(self.manager_env["BERTH_DATABASE_URL"])
            try:
                async with engine.begin() as conn:
                    result = await conn.execute(text(statement), params)
                    return list(result.all()) if result.returns_rows else []
            finally:
                await engine.dispose()

        return run_async(go())

    def log(self, what: str) -> str:
        return (self.root / f"{what}.log").read_text(errors="replace")


async def _remove_containers(agent_id: str) -> None:
    """Remove the agent's containers and then its session networks."""
    import aiodocker

    docker = aiodocker.Docker()
    label = {"label": [f"berth.agent-id={agent_id}"]}
    try:
        for c in await docker.containers.list(all=True, filters=label):
            await c.delete(force=True)
        for net in await docker.networks.list(filters=label):
            with contextlib.suppress(aiodocker.DockerError):
                await (await docker.networks.get(net["Id"])).delete()
    finally:
        await docker.close()


def wait_status(c: Client, ref: str, statuses: set[str] | str, timeout: float = 60
                ) -> dict[str, Any]:
    """Wait until the session has one of ``statuses``; fail early if it ends otherwise."""
    want = {statuses} if isinstance(statuses, str) else statuses

    def check() -> dict[str, Any] | None:
        s = c.get_session(ref)
        if s["status"] in want:
            return s
        if s["status"] in ENDED:
            raise AssertionError(f"session ended as {s['status']} ({s['status_info']}, "
                                 f"{s['status_data']}) instead of {want}")
        return None
    result: dict[str, Any] = wait_for(check, timeout, what=f"status {want}")
    return result
