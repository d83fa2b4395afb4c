"""The comment endpoint through real HTTP on a real node with comments enabled: GET and
POST and each refusal's status, the body limit enforced before reading, CORS (simple
requests and the preflight), no cookies, and hypothesis bytes never stopping it."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidegate.engine.comments.urls import url_hash
from tidegate.engine.node import Node

from .util import URL, author, comment, encode, node_with_comments, record_of

H = url_hash(URL)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with node_with_comments(tmp_path_factory.mktemp("endpoint")) as n:
        assert n.comments is not None and n.comments.port, n.comments and n.comments.failure
        yield n


def call(node: Node, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    assert node.comments is not None
    conn = http.client.HTTPConnection("127.0.0.1", node.comments.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict(resp.headers), json.loads(data) if data else None
    finally:
        conn.close()


def test_about_post_and_get(node: Node) -> None:
    status, headers, about = call(node, "GET", "/")
    assert status == 200 and about["service"] == "tidegate comments"
    assert about["difficulty"] == 8 and len(about["network"]) == 64
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, _, empty = call(node, "GET", "/" + "ab" * 32)
    assert status == 200 and empty["comments"] == []  # 404-free
    top = comment("over HTTP")
    status, _, posted = call(node, "POST", "/" + H, top.raw)
    assert (status, posted["id"]) == (201, top.id)
    reply = comment("answer", parent=top)
    assert call(node, "POST", "/" + H, reply.raw)[0] == 201
    status, headers, listed = call(node, "GET", "/" + H)
    assert status == 200 and "Set-Cookie" not in headers
    assert "Access-Control-Allow-Credentials" not in headers
    ids = [c["id"] for c in listed["comments"]]
    assert ids.index(top.id) < ids.index(reply.id)
    got = next(c for c in listed["comments"] if c["id"] == reply.id)
    assert got["parent"] == top.id and got["author"]["ed25519"] == reply.author
    assert got["record"] == json.loads(reply.raw)


def test_each_refusal_has_its_status_and_reason(node: Node) -> None:
    c = comment("refusals")
    assert call(node, "POST", "/" + H, c.raw)[0] == 201
    status, _, body = call(node, "POST", "/" + H, c.raw)
    assert (status, body["error"]) == (409, "ReplayedComment")
    rec = record_of(comment("forged"))
    rec["event"]["content"] += "!"
    status, _, body = call(node, "POST", "/" + H, encode(rec))
    assert (status, body["error"]) == (403, "ForgedComment")
    status, _, body = call(node, "POST", "/" + H, comment("cheap", difficulty=0).raw)
    if status != 201:  # 1 in 256 is lucky enough (and commits to 0: refused anyway)
        assert (status, body["error"], body["required"]) == (422, "NotEnoughWork", 8)
        assert "requires 8" in body["reason"]
    status, _, body = call(node, "POST", "/" + H, comment("late", now=time.time() + 3600).raw)
    assert status == 400 and body["error"] == "FutureComment"
    status, _, body = call(node, "POST", "/" + url_hash("https://other.example/"),
                           comment("wrong place").raw)
    assert status == 400 and "the path names" in body["reason"]
    status, _, body = call(node, "POST", "/not-a-hash", c.raw)
    assert status == 400 and "64 lowercase hex" in body["reason"]
    status, _, body = call(node, "POST", "/" + H, b"{not json")
    assert (status, body["error"]) == (400, "BadComment")


def test_the_body_limit_is_enforced_before_reading(node: Node) -> None:
    assert node.comments is not None
    with socket.create_connection(("127.0.0.1", node.comments.port), timeout=10) as s:
        s.sendall(f"POST /{H} HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
                  .encode())
        started = time.monotonic()
        answer = s.recv(4096)  # no body sent: an answer proves nothing was waited for
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        assert time.monotonic() - started < 5
    big = encode({"event": {"content": "x" * 20000}})
    status, _, body = call(node, "POST", "/" + H, big)
    assert status == 413 and body["error"] == "OversizedComment"
    conn = http.client.HTTPConnection("127.0.0.1", node.comments.port, timeout=10)
    try:  # no Content-Length: the limit holds while reading the chunks
        conn.request("POST", "/" + H, body=iter([b"x" * 8192] * 4), encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 413 and json.loads(resp.read())["error"] == "OversizedComment"
    finally:
        conn.close()


def test_cors_preflight_allows_content_type_only(node: Node) -> None:
    status, headers, _ = call(node, "OPTIONS", "/" + H, headers={
        "Origin": "https://blog.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Access-Control-Allow-Credentials" not in headers
    status, headers, _ = call(node, "OPTIONS", "/" + H, headers={
        "Origin": "https://blog.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert status == 204 and "Access-Control-Allow-Headers" not in headers


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_fuzzed_bodies_never_stop_the_endpoint(node: Node, data: bytes) -> None:
    status, _, body = call(node, "POST", "/" + H, data)
    assert 400 <= status < 500 and body["error"] and body["reason"]
    assert call(node, "GET", "/")[0] == 200


def test_the_allow_list_admits_only_listed_authors_without_work(tmp_path: Path) -> None:
    key = author()
    with node_with_comments(tmp_path / "n", difficulty=24,
                            allow_authors=[key.ed25519_public]) as n:
        assert call(n, "GET", "/")[2]["difficulty"] == 0
        status, _, _ = call(n, "POST", "/" + H, comment("listed", key=key, difficulty=0).raw)
        assert status == 201
        status, _, body = call(n, "POST", "/" + H, comment("stranger", difficulty=0).raw)
        assert (status, body["error"]) == (403, "UnknownAuthor")


def test_the_service_restarts_on_its_port_and_says_when_it_died(tmp_path: Path) -> None:
    with node_with_comments(tmp_path / "n") as n:
        service = n.comments
        assert service is not None and service.alive() and service.failure == ""
        port = service.port
        service.restart()
        assert service.alive() and service.port == port
        assert call(n, "GET", "/")[0] == 200
    assert service.alive()  # stopped on purpose


def test_a_port_in_use_is_the_services_failure_not_the_nodes(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with node_with_comments(tmp_path / "n", port=port) as n:
            service = n.comments
            assert service is not None and n.running
            assert not service.alive() and "cannot listen" in service.failure
            assert str(port) in service.failure


def test_added_routes_and_tasks_run_and_run_again_after_a_restart(tmp_path: Path) -> None:
    from aiohttp import web

    from tidegate.engine.comments.service import CommentService
    from tidegate.engine.config.comments import CommentsConfig

    runs: list[int] = []

    async def sync_status(request: web.Request) -> web.Response:
        return web.json_response({"runs": len(runs)})

    async def task() -> None:
        runs.append(1)
        await asyncio.Event().wait()  # until cancelled by stop

    service = CommentService(CommentsConfig(enabled=True, difficulty=8), tmp_path)
    service.add_routes([web.get("/sync/status", sync_status)])
    service.add_task(task)
    service.start()
    try:
        assert service.loop is not None and service.alive()
        deadline = time.monotonic() + 10
        while len(runs) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
        conn.request("GET", "/sync/status")
        assert json.loads(conn.getresponse().read()) == {"runs": 1}
        conn.close()
        late: list[int] = []

        async def late_task() -> None:
            late.append(1)

        service.add_task(late_task)  # while running: run now
        while not late and time.monotonic() < deadline:
            time.sleep(0.01)
        assert late == [1]
        service.restart()
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(runs) == 2 and len(late) == 2
    finally:
        service.stop()
    assert service.alive() and service.port == 0
