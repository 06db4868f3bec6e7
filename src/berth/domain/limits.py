"""Upper (and lower) limits on everything a user can send to Berth.

One home for the numbers: the API's input models put them in the OpenAPI schema and enforce
them at the edge, the validation rules (:mod:`berth.domain.rules`) and the launch check
(:mod:`berth.domain.launch`) apply the ones a schema cannot express (bytes of UTF-8 text,
dates relative to now), and docs/limits.md shows them to users. Each limit is chosen so that
no accepted value can overflow anything downstream: a date, a float, a 32-bit database column
(``sessions.timeout_seconds`` is an Integer on PostgreSQL), a ``String(n)`` column, or the
kernel's ``execve`` (one string at most 128 KiB, argv plus environment at most 2 MiB).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40

#: A request body larger than this is refused with 413 before it is read in full.
BODY_MAX = 1 * MiB
#: Agents report every kernel in one heartbeat: their (token-authenticated) calls may be larger.
AGENT_BODY_MAX = 32 * MiB

# ---- names and references (the database columns are String(n) of these sizes) ----------
NAME_MIN, NAME_MAX = 4, 64
IMAGE_REF_MAX = 256
GROUP_NAME_MAX = 64
AGENT_ID_MAX = 64
EMAIL_MAX = 254
SESSION_REF_MAX = 64  # an id (36 characters) or a name

# ---- environment variables (passed to execve: keep well inside the kernel's limits) ----
ENV_COUNT_MAX = 256
ENV_NAME_MAX = 256
#: Bytes of UTF-8 per value.
ENV_VALUE_MAX = 32 * KiB
#: Bytes of all NAME=VALUE strings together (each counted with its '=' and a NUL byte).
ENV_TOTAL_MAX = 256 * KiB

# ---- batch sessions ------------------------------------------------------------------
#: Bytes of UTF-8; the command is one argument of ``/bin/sh -c``.
STARTUP_COMMAND_MAX = 64 * KiB
#: Fits a 32-bit integer column as seconds (31,536,000).
TIMEOUT_MAX = timedelta(days=365)
DURATION_TEXT_MAX = 32
#: A start time may be this far in the past (a clock a little behind; "now" from a script) ...
STARTS_AT_PAST_MAX = timedelta(days=1)
#: ... and this far in the future.
STARTS_AT_FUTURE_MAX = timedelta(days=365)

# ---- idle checks (docs/idle-checks.md) ----------------------------------------------
#: Any idle-check duration (lifetime, idle timeout, window, grace period, warn-before), s.
IDLE_SECONDS_MAX = int(TIMEOUT_MAX.total_seconds())
#: Utilization thresholds are percentages in (0, IDLE_THRESHOLD_MAX].
IDLE_THRESHOLD_MAX = 100.0

# ---- resources -------------------------------------------------------------------------
CPU_MAX = 1024
CPU_STEP = Decimal("0.01")
MEM_MIN = 64 * MiB
#: Memory and shared memory: beyond any single machine, far inside a 64-bit integer.
MEM_MAX = 64 * TiB
SIZE_TEXT_MAX = 32
#: Any accelerator slot amount (devices or shares).
ACCELERATOR_MAX = 1024

# ---- counts ----------------------------------------------------------------------------
SESSIONS_PER_REQUEST_MAX = 20
CLUSTER_SIZE_MAX = 64
THREADS_MIN, THREADS_MAX = 1, 1000
PORT_MIN, PORT_MAX = 1024, 65535
PREOPEN_PORTS_MAX = 10
BULK_TERMINATE_MAX = 500
ALLOWED_IPS_MAX = 64
IP_TEXT_MAX = 64  # the longest IPv6 CIDR is 43 characters
LOGDIR_MAX = 1024
LABEL_MAX = 64
PASSWORD_MAX = 1024
FULL_NAME_MAX = 128

# ---- list and query parameters ---------------------------------------------------------
LIST_LIMIT_MAX = 200
LIST_OFFSET_MAX = 1_000_000
LOG_TAIL_MAX = 1_000_000

# ---- storage folders -------------------------------------------------------------------
FOLDER_NAME_MAX = 64
#: Default of the ``max_folders_per_user`` setting (folders a user owns, trash included).
FOLDERS_PER_USER_DEFAULT = 100
MOUNTS_MAX = 32
MOUNT_PATH_MAX = 255
#: Bytes of UTF-8: a path inside a folder, and one name in it (Linux's PATH_MAX/NAME_MAX).
FILE_PATH_MAX = 4096
FILE_NAME_MAX = 255
FILE_LIST_LIMIT_MAX = 1000
#: Largest single upload (Upload-Length), the default of the ``upload_max_size`` setting.
UPLOAD_MAX_DEFAULT = 1 * TiB
