"""The SDK covers the API: every operation of the OpenAPI document has a method, with the
same name and arguments, in both Client and AsyncClient (or is declared left out, with a
reason). A new route without SDK methods fails here."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest

from berth.client import AsyncClient, Client
from berth.client.operations import NOT_IN_SDK, OPERATIONS
from berth.manager.app import create_app
from berth.settings import ManagerSettings


def _operations() -> set[str]:
    spec = create_app(ManagerSettings()).openapi()  # builds the document; starts nothing
    return {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops}


def test_every_operation_is_mapped_or_left_out_with_a_reason() -> None:
    api = _operations()
    declared = set(OPERATIONS) | set(NOT_IN_SDK)
    assert not api - declared, f"API operations without SDK methods: {sorted(api - declared)}"
    assert not declared - api, f"SDK mapping names unknown operations: {sorted(declared - api)}"
    assert not set(OPERATIONS) & set(NOT_IN_SDK)
    assert all(reason.strip() for reason in NOT_IN_SDK.values())


@pytest.mark.parametrize("name", sorted(set(OPERATIONS.values())))
def test_both_clients_have_the_method_with_the_same_arguments(name: str) -> None:
    sync, asynchronous = getattr(Client, name, None), getattr(AsyncClient, name, None)
    assert sync is not None, f"Client has no {name}()"
    assert asynchronous is not None, f"AsyncClient has no {name}()"
    assert not inspect.iscoroutinefunction(sync) and not inspect.isasyncgenfunction(sync)
    assert inspect.iscoroutinefunction(asynchronous) or inspect.isasyncgenfunction(asynchronous)
    assert list(inspect.signature(sync).parameters) == \
        list(inspect.signature(asynchronous).parameters)


def _recording() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"token": "BK.x"})

    return seen, httpx.MockTransport(answer)


#: method -> (args, expected "METHOD path") for the calls that take arguments.
CALLS: dict[str, tuple[tuple[Any, ...], str]] = {
    "get_session": (("a b",), "GET /api/sessions/a%20b"),
    "get_folder": (("f1",), "GET /api/folders/f1"),
    "trash_folder": (("f1",), "DELETE /api/folders/f1"),
    "purge_folder": (("f1",), "POST /api/folders/f1/purge"),
    "remove_file": (("f1", "a"), "DELETE /api/folders/f1/files?path=a&recursive=false"),
    "mkdir": (("f1", "a"), "POST /api/folders/f1/mkdir"),
    "move_file": (("f1", "a", "b"), "POST /api/folders/f1/move"),
    "rename_session": (("s1", "new-name"), "PATCH /api/sessions/s1"),
    "terminate_session": (("s1",), "POST /api/sessions/s1/terminate"),
    "terminate_sessions": ((["s1", "s2"],), "POST /api/sessions/terminate"),
    "open_app": (("s1", "jupyter"), "POST /api/sessions/s1/apps/jupyter/open"),
    "close_app": (("s1", "jupyter"), "DELETE /api/sessions/s1/apps/jupyter"),
    "update_launch": (("l1", "x"), "PATCH /api/launches/l1"),
    "delete_launch": (("l1",), "DELETE /api/launches/l1"),
    "revoke_login": (("g1",), "DELETE /api/logins/g1"),
    "delete_key": (("BK1",), "DELETE /api/keys/BK1"),
    "login": (("a@example.com", "pw", "ci"), "POST /api/auth/token"),  # defaults differ
    "create_user": (("a@example.com", "pw"), "POST /api/users"),
    "me": ((), "GET /api/users/me"),
    "health": ((), "GET /api/health"),
    "get_project": (("p 1",), "GET /api/projects/p%201"),
    "update_project": (("p1",), "PATCH /api/projects/p1"),
    "remove_project_member": (("p1", "u1"), "DELETE /api/projects/p1/members/u1"),
    "add_project_member": (("p1", "a@example.com"), "POST /api/projects/p1/members"),
    "update_resource_group": (("g1",), "PATCH /api/resource-groups/g1"),
    "list_presets": (("g1",), "GET /api/resource-presets?resource_group=g1"),
    "create_preset": (("s", {"cpu": 1, "mem": "1g"}), "POST /api/resource-presets"),
    "delete_preset": (("x1",), "DELETE /api/resource-presets/x1"),
    "update_policy": (("small",), "PATCH /api/resource-policies/small"),
    "check_resources": (("g1", "p1"),
                        "GET /api/resource-check?resource_group=g1&project=p1"),
    "lookup_user": (("a@example.com",), "GET /api/users/lookup?email=a%40example.com"),
    "update_user": (("u1",), "PATCH /api/users/u1"),
    "update_agent": (("a1", False), "PATCH /api/agents/a1"),
}


def _operation(method: str, path: str) -> str:
    """The operation a concrete request is, e.g. GET /api/sessions/s1 -> GET
    /api/sessions/{ref}; literal segments win over parameters (as in the router)."""
    def matches(pattern: str) -> bool:
        parts, want = pattern.split("/"), path.split("/")
        return len(parts) == len(want) and all(
            p.startswith("{") or p == w for p, w in zip(parts, want, strict=True))

    found = [op for op in OPERATIONS if op.split(" ")[0] == method and matches(op.split(" ")[1])]
    return min(found, key=lambda op: op.count("{"), default=f"{method} {path}")


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_sync_and_async_send_the_same_request(name: str) -> None:
    args, expected = CALLS[name]
    seen_sync, transport = _recording()
    client = Client(endpoint="http://berth.test", api_key="k")
    client.http = httpx.Client(base_url="http://berth.test", transport=transport)
    getattr(client, name)(*args)
    seen_async, atransport = _recording()
    aclient = AsyncClient(endpoint="http://berth.test", api_key="k")
    aclient.http = httpx.AsyncClient(base_url="http://berth.test", transport=atransport)
    await getattr(aclient, name)(*args)
    await aclient.close()
    [s], [a] = seen_sync, seen_async
    assert f"{s.method} {s.url.raw_path.decode()}" == expected
    assert (a.method, a.url, a.content) == (s.method, s.url, s.content)
    assert OPERATIONS.get(_operation(s.method, s.url.path)) == name
