"""How soon the idle checks reclaim a session after its deadline (issue 11).

    uv run python benchmarks/bench_idle.py [--sessions 20] [--lifetime 30] [--interval 15]
                                           [--check lifetime|network] [--db sqlite]

Starts its own Berth (manager + agent subprocesses, through ``tests/cluster.py``) with
``BERTH_IDLE_CHECK_INTERVAL=--interval``, gives a user a resource policy with the maximum
session lifetime (or the network idle timeout, without any traffic) of ``--lifetime`` seconds,
starts ``--sessions`` interactive sessions at once and waits until all have ended. For each
session the deadline is exact from its stored start (``started_at + lifetime``); the figures
are the delay from the deadline to TERMINATING (the idle loop's decision) and to TERMINATED
(the kernel stopped and removed), median and max, printed next to the check interval, which
is the aim (a reclaim within one interval of the deadline). Every container is removed at
the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cluster import Cluster, wait_for  # noqa: E402

IMAGE = "berth/python:3.11"
RESOURCES = {"cpu": 1, "mem": "512m"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _entered(session: dict[str, Any], status: str) -> datetime:
    return next(_at(h["at"]) for h in session["history"] if h["status"] == status)


def run(args: argparse.Namespace) -> dict[str, Any]:
    cluster = Cluster(
        db=args.db, manager_env={"BERTH_IDLE_CHECK_INTERVAL": str(args.interval)},
        agent_env={"BERTH_AGENT_CPU": str(args.sessions + 2),
                   "BERTH_AGENT_MEM": str((args.sessions + 2) * 2**30)}).start()
    try:
        setting = "max_session_lifetime" if args.check == "lifetime" else "idle_timeout"
        policy = f"bench-idle-{secrets.token_hex(3)}"
        cluster.admin.request("POST", "/api/resource-policies",
                              json={"name": policy, setting: args.lifetime})
        user = cluster.user()
        cluster.admin.request("PATCH", f"/api/users/{user.me()['id']}",
                              json={"resource_policy": policy})
        made = user.create_session(image=IMAGE, resources=RESOURCES, count=args.sessions)
        ids = [s["id"] for s in made]
        started = time.monotonic()

        def all_ended() -> bool:
            page = user.list_sessions(state="running", limit=200)
            return page["total"] == 0
        wait_for(all_ended, args.lifetime + 10 * args.interval + 300, interval=1,
                 what="every session to be reclaimed")
        print(f"all {len(ids)} ended after {time.monotonic() - started:.0f} s")
        decided, ended, infos = [], [], set()
        for sid in ids:
            s = user.get_session(sid)
            infos.add(f"{s['status']} {s['status_info']}")
            deadline = _at(s["started_at"]).timestamp() + args.lifetime
            decided.append(_entered(s, "TERMINATING").timestamp() - deadline)
            ended.append(_entered(s, "TERMINATED").timestamp() - deadline)
        return {"decided": decided, "ended": ended, "infos": sorted(infos)}
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--lifetime", type=int, default=30,
                        help="The lifetime or idle timeout, seconds.")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="BERTH_IDLE_CHECK_INTERVAL, seconds (the aim).")
    parser.add_argument("--check", choices=("lifetime", "network"), default="lifetime")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    result = run(args)
    print(f"{args.sessions} sessions, {args.check} {args.lifetime} s, check interval "
          f"{args.interval} s (aim: reclaimed within one interval), {args.db}")
    print(f"ended as: {', '.join(result['infos'])}")
    for name, label in (("decided", "deadline -> TERMINATING"),
                        ("ended", "deadline -> TERMINATED ")):
        values = result[name]
        print(f"  {label}: median {statistics.median(values):6.2f} s, "
              f"min {min(values):6.2f} s, max {max(values):6.2f} s")


if __name__ == "__main__":
    main()
