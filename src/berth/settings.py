"""Configuration: a TOML file (``BERTH_CONFIG``, default ``<data dir>/berth.toml``) and
``BERTH_*`` environment variables, the latter winning. Nothing is read at import time."""

from __future__ import annotations

import os
import secrets
import socket
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from berth.agent.accelerators.mock import parse_mock_devices
from berth.domain import limits


def default_data_dir() -> Path:
    return Path(os.environ.get("BERTH_DATA_DIR", Path.home() / ".local/share/berth"))


def _toml_section(section: str) -> dict[str, Any]:
    path = Path(os.environ.get("BERTH_CONFIG", default_data_dir() / "berth.toml"))
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text())
    value = data.get(section, {})
    return value if isinstance(value, dict) else {}


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], section: str) -> None:
        super().__init__(settings_cls)
        self.section = section

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _toml_section(self.section)


class _SectionSettings(BaseSettings):
    _section = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        section = cls.model_config.get("title") or ""
        return (init_settings, env_settings, _TomlSource(settings_cls, section))


def read_or_create_secret(path: Path) -> str:
    """Return the secret stored at ``path``, creating it (mode 0600) on first use.

    Safe when several processes start at once (a manager and its agents): the secret is
    written whole to a file of its own and then linked into place, which fails if another
    process was first; so every process reads the one secret, never a half-written file."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(value)
        os.link(draft, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        draft.unlink(missing_ok=True)
    return value


class ManagerSettings(_SectionSettings):
    model_config = SettingsConfigDict(env_prefix="BERTH_", title="manager", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="State directory.")
    host: str = Field("127.0.0.1", description="Address the manager API listens on.")
    port: int = Field(8090, description="Port of the manager API (and, later, the web UI).")
    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty means SQLite in the data directory."
    )
    agent_token: str = Field(
        "", description="Shared secret between manager and agents; empty: read from data dir."
    )
    event_bus: str = Field("memory", description="'memory' (embedded) or 'redis' (scale-out).")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the event bus.")
    schedule_interval: float = Field(2.0, description="Seconds between scheduler passes.")
    idle_check_interval: float = Field(
        15.0, gt=0, description="Seconds between idle-check passes (BERTH_IDLE_CHECK_INTERVAL); "
        "a session is reclaimed at most this long after an idle check's deadline.")
    heartbeat_timeout: float = Field(30.0, description="Agent silence before it is LOST.")
    transition_timeout: float = Field(
        600.0, description="Seconds a session may stay in a transitional status."
    )
    create_grace: float = Field(
        30.0, gt=0, le=3600,
        description="Seconds a kernel its agent does not report yet may still be on its way; "
        "after that a missing kernel fails its session (kernel-lost, or failed-to-start).",
    )
    heartbeat_full_every: float = Field(
        300.0, gt=0, le=86400,
        description="Seconds between full reconciliations of an agent's heartbeat with every "
        "live session on it; in between, a heartbeat only looks at what changed (kernel "
        "reports, session statuses). The first heartbeat after a manager start is always full.",
    )
    resend_after: float = Field(
        10.0, gt=0, le=3600,
        description="Seconds a PREPARING session waits with no hand-over in flight (e.g. cut "
        "off by a manager restart) before the watchdog sends its kernels to the agent again.",
    )
    rpc_connect_timeout: float = Field(
        5.0, gt=0, le=600,
        description="Seconds to reach an agent (and for its health check) before it counts as "
        "unreachable: the API answers 503 naming it.",
    )
    rpc_call_timeout: float = Field(
        30.0, gt=0, le=3600,
        description="Seconds an agent may take to answer an ordinary call (create a kernel, "
        "SSH key, start of a log stream, terminal handshake); then the API answers 504.",
    )
    rpc_probe_interval: float = Field(
        10.0, gt=0, le=3600,
        description="During long agent calls (starting an app, following logs), seconds of "
        "silence after which the manager checks the agent still answers; a frozen agent ends "
        "the call (504).",
    )
    app_start_timeout: float = Field(
        180.0, gt=0, le=3600,
        description="Most seconds opening an app waits for the agent to start it (504 after).",
    )

    webui_dir: Path | None = Field(
        None, description="Built web UI to serve at /; default: webui/dist of this checkout."
    )
    login_ttl: float = Field(
        7 * 86400.0, gt=0, le=366 * 86400,
        description="Seconds a browser login lasts from the moment of logging in (default 7 "
        "days); the user can log out or revoke it earlier.",
    )
    public_url: str = Field(
        "", description="The manager's URL as browsers see it when a reverse proxy rewrites "
        "the Host header (e.g. https://berth.example.com); pages of this origin may change "
        "state with the login cookie, besides the origin each request was sent to.",
    )
    proxy_host: str = Field("127.0.0.1", description="Address the app proxy's ports listen on.")
    proxy_public_host: str = Field(
        "", description="Host name in app URLs (what browsers reach); empty: proxy_host."
    )
    proxy_ports: str = Field(
        "10100-10299", description="The app proxy's port pool: 'first-last' (inclusive)."
    )

    storage_hosts: dict[str, Path] = Field(
        default_factory=dict,
        description="Folder hosts: name -> base directory (JSON in BERTH_STORAGE_HOSTS, a table "
        "in berth.toml). In scale-out each is a shared filesystem (NFS/CephFS) mounted at the "
        "same path on every node. The host 'local' (<data dir>/storage) is always there.",
    )
    default_storage_host: str = Field("local", description="Host of new folders by default.")
    max_folders_per_user: int = Field(
        limits.FOLDERS_PER_USER_DEFAULT, ge=0, le=1_000_000,
        description="Folders a user may own (the trash included).",
    )
    upload_max_size: int = Field(
        limits.UPLOAD_MAX_DEFAULT, gt=0, le=limits.UPLOAD_MAX_DEFAULT * 64,
        description="Largest single upload in bytes.",
    )

    def proxy_port_pool(self) -> range:
        first, _, last = self.proxy_ports.partition("-")
        return range(int(first), int(last or first) + 1)

    def proxy_secret(self) -> bytes:
        """Signs the app proxy's permit cookies; kept in the data dir so permits survive a
        restart."""
        return read_or_create_secret(self.data_dir / "proxy-secret").encode()

    def resolved_webui_dir(self) -> Path | None:
        if self.webui_dir is not None:
            return self.webui_dir
        checkout = Path(__file__).resolve().parents[2] / "webui" / "dist"
        return checkout if checkout.is_dir() else None

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'berth.db'}"

    def resolved_agent_token(self) -> str:
        return self.agent_token or read_or_create_secret(self.data_dir / "agent-token")


class AgentSettings(_SectionSettings):
    model_config = SettingsConfigDict(env_prefix="BERTH_AGENT_", title="agent", extra="ignore")

    id: str = Field(default_factory=lambda: f"agent-{socket.gethostname()}")
    data_dir: Path = Field(default_factory=default_data_dir, description="State directory.")
    host: str = Field("127.0.0.1", description="Address the agent RPC listens on.")
    port: int = Field(6011, description="Port of the agent RPC (manager -> agent).")
    manager_url: str = Field("http://127.0.0.1:8090", description="Where the manager is.")
    resource_group: str = Field("default", description="Resource group this agent joins.")
    token: str = Field(
        "", description="Shared secret with the manager; empty: read from token_file, else "
        "from the manager's <data dir>/agent-token, else from this agent's data dir."
    )
    token_file: Path | None = Field(
        None, description="File holding the shared secret (e.g. a copy of the manager's "
        "<data dir>/agent-token on another machine); empty: look where the manager keeps it."
    )
    cpu: float | None = Field(
        None, description="CPU cores offered; default: the size of cpuset when set, else all "
        "host cores.")
    port_range: str = Field(
        "", description="Host ports for the kernels' published ports, 'first-last' (e.g. "
        "30000-30999; the engine picks a free one in it), so that several agents on one "
        "machine keep apart; empty: any free port.")
    cpuset: str = Field(
        "", description="CPU cores the kernels run on (the engine's cpuset, e.g. '0', '0-1', "
        "'0,2'); each must exist on this host. Empty: all cores.")
    mem: int | None = Field(None, description="Memory bytes offered; default: host memory.")
    heartbeat_interval: float = Field(5.0, description="Seconds between heartbeats.")
    heartbeat_full_every: int = Field(
        60, ge=1, description="Every this many heartbeats one is full (every kernel's "
        "report); the others carry only what changed since the beat the manager last "
        "acknowledged. A full one is also sent first, after a failed post and when the "
        "manager asks for it.")
    usage_interval: float = Field(
        5.0, gt=0, description="Seconds between two samples of the kernels' live usage "
        "(CPU, memory, network, disk I/O, accelerators), each round sent to the manager.")
    pids_limit: int = Field(4096, description="Process limit of every container.")
    backend: str = Field(
        "docker", description="'docker', or 'fake' (FakeBackend: lifecycle tests only)."
    )
    fake_mode: str = Field(
        "normal", description="FakeBackend behaviour: normal, slow, never-start or fail."
    )
    mock_gpus: str = Field(
        "", description="MOCK GPUs for tests and demos ONLY, off unless set: devices that exist "
        "only in this setting, offered as the mock-gpu.device and mock-gpu.shares slots; kernels "
        "get the CUDA environment a real GPU would give (plus BERTH_MOCK_GPU=1) but no device. "
        "'id:memory[:model]' comma-separated (e.g. '0:16g,1:16g') or JSON. Refused (logged) on "
        "a node where real NVIDIA GPUs are found.")
    nvidia: str = Field(
        "auto", description="NVIDIA GPUs (the cuda.device and cuda.shares slots): 'auto' uses "
        "the GPUs NVML finds (none found: no cuda slots, the reason logged once at start); "
        "'whole' the same but whole GPUs only (no MPS daemons, so no kernel joins the host's "
        "IPC namespace; see docs/accelerators.md); 'off' never looks.")

    @field_validator("port_range")
    @classmethod
    def _port_range(cls, value: str) -> str:
        parse_port_range(value)
        return value.strip()

    @field_validator("cpuset")
    @classmethod
    def _cpuset(cls, value: str) -> str:
        return format_cpuset(parse_cpuset(value, os.cpu_count() or 1)) if value.strip() else ""

    @field_validator("mock_gpus")
    @classmethod
    def _mock_gpus(cls, value: str) -> str:
        parse_mock_devices(value)  # a bad value fails at start, naming the item at fault
        return value.strip()

    @field_validator("nvidia")
    @classmethod
    def _nvidia(cls, value: str) -> str:
        mode = value.strip().lower()
        if mode not in ("auto", "whole", "off"):
            raise ValueError(f"nvidia must be 'auto', 'whole' or 'off', not {value!r}")
        return mode

    def cpus(self) -> list[int]:
        """The cores of ``cpuset`` (empty: all of the host's)."""
        return parse_cpuset(self.cpuset, os.cpu_count() or 1) if self.cpuset else []

    def token_places(self) -> list[tuple[Path, str]]:
        """Where the shared secret may be, in order, each with what the place is: the
        ``token_file`` alone when set; else the manager's data dir (BERTH_DATA_DIR or the
        config file's ``[manager] data_dir``, which need not be this agent's) and this agent's."""
        if self.token_file is not None:
            return [(self.token_file, "BERTH_AGENT_TOKEN_FILE")]
        # As ManagerSettings reads it: the environment first, then the config file.
        manager_dir = Path(os.environ.get("BERTH_DATA_DIR")
                           or _toml_section("manager").get("data_dir") or default_data_dir())
        places = [(manager_dir / "agent-token", "the manager's data dir")]
        if self.data_dir != manager_dir:
            places.append((self.data_dir / "agent-token", "this agent's data dir"))
        return places

    def resolved_token(self) -> str:
        """The shared secret: ``token``, else the first non-empty file of
        :meth:`token_places`. The agent never makes one up (a secret the manager does not
        know only gets every call refused). Raises AgentTokenMissing naming where it looked."""
        if self.token:
            return self.token
        places = self.token_places()
        for path, _ in places:
            if path.is_file() and (value := path.read_text().strip()):
                return value
        looked = ", ".join(f"{path} ({what})" for path, what in places)
        raise AgentTokenMissing(
            f"no agent token: BERTH_AGENT_TOKEN is empty and no token file was found at "
            f"{looked}. Start the manager first (it creates <data dir>/agent-token), or set "
            "BERTH_AGENT_TOKEN, or BERTH_AGENT_TOKEN_FILE to a copy of that file.")


def parse_port_range(value: str) -> range | None:
    """``first-last`` (inclusive, 1024-65535) as a range; None for an empty value. Raises
    ValueError saying what is wrong."""
    text = value.strip()
    if not text:
        return None
    first, sep, last = text.partition("-")
    try:
        lo, hi = int(first), int(last if sep else first)
    except ValueError:
        raise ValueError(
            f"port_range must be 'first-last' (e.g. 30000-30999), not {value!r}") from None
    if not 1024 <= lo <= hi <= 65535:
        raise ValueError(f"port_range {value!r}: ports must be 1024-65535 and first <= last")
    return range(lo, hi + 1)


def parse_cpuset(value: str, host_cores: int) -> list[int]:
    """The cores of a cpuset such as ``0``, ``0-1`` or ``0,2-3``, sorted; each must be one of
    the host's ``host_cores`` (0 .. host_cores-1). Raises ValueError naming the problem."""
    cores: set[int] = set()
    for part in filter(None, (p.strip() for p in value.split(","))):
        first, sep, last = part.partition("-")
        try:
            lo, hi = int(first), int(last if sep else first)
        except ValueError:
            raise ValueError(
                f"cpuset must be cores like 0, 0-1 or 0,2-3, not {value!r}") from None
        if lo > hi or lo < 0:
            raise ValueError(f"cpuset {value!r}: {part} is not a range of cores")
        cores.update(range(lo, hi + 1))
    if not cores:
        raise ValueError(f"cpuset must name at least one core, not {value!r}")
    missing = sorted(c for c in cores if c >= host_cores)
    if missing:
        raise ValueError(f"cpuset {value!r} names core(s) {', '.join(map(str, missing))}, but "
                         f"this host has {host_cores} (0-{host_cores - 1})")
    return sorted(cores)


def format_cpuset(cores: list[int]) -> str:
    """The engine's form of a set of cores: ``0-2,5``."""
    parts: list[str] = []
    for core in cores:
        if parts and core == int(parts[-1].rpartition("-")[2]) + 1:
            parts[-1] = f"{parts[-1].partition('-')[0]}-{core}"
        else:
            parts.append(str(core))
    return ",".join(parts)


class AgentTokenMissing(RuntimeError):
    """The agent has no shared secret; the message says where it looked."""
