"""NIP-22 conformance: our events have the shape of NIP-22's own examples (a comment on
a website, a reply to a comment, NIP-73's web identifiers, NIP-13's nonce tag); every
exported event verifies in an independent Nostr library (rust-nostr's Python bindings,
nostr-sdk); an event signed by that library imports into a real node, and one byte
changed makes it forged."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

import nostr_sdk as nostr

from tidegate.engine import commands as cmds
from tidegate.engine.comments.urls import url_hash

from .util import URL, comment, node_with_comments

NIP22_WEB_TOP = [["I", URL], ["K", "web"], ["i", URL], ["k", "web"]]
"""NIP-22's "comment on a website" example (with NIP-73's ``web`` kind)."""


def _shape(tags: tuple[tuple[str, ...], ...]) -> list[list[str]]:
    return [list(t) for t in tags if t[0] not in ("tidegate", "nonce")]


def test_our_events_have_nip22s_shapes() -> None:
    top = comment("Nice article!")
    assert _shape(top.tags) == NIP22_WEB_TOP
    reply = comment("Agreed", parent=top)
    # NIP-22's reply to a comment: root scope kept, parent tags name the comment
    assert _shape(reply.tags) == [["I", URL], ["K", "web"],
                                  ["e", top.id, "", top.pubkey], ["k", "1111"],
                                  ["p", top.pubkey]]
    nonce = [t for t in reply.tags if t[0] == "nonce"]
    assert len(nonce) == 1 and nonce[0][2] == "8" and int(nonce[0][1]) >= 0  # NIP-13
    event = json.loads(reply.event_json())
    assert list(event) == ["id", "pubkey", "created_at", "kind", "tags", "content", "sig"]
    assert event["kind"] == 1111


def _foreign(content: str = "From another client", difficulty: int = 8) -> str:
    keys = nostr.Keys.generate()
    unsigned = nostr.EventBuilder(nostr.Kind(1111), content).tags(
        [nostr.Tag.parse(t) for t in NIP22_WEB_TOP]).finalize_unsigned(keys.public_key())
    if difficulty:
        unsigned = unsigned.mine(nostr.SingleThreadPow(), difficulty)
    return unsigned.sign(keys).as_json()


def test_export_verifies_in_nostr_sdk_and_foreign_events_import(tmp_path: Path) -> None:
    with node_with_comments(tmp_path / "n") as node:
        top = node.run(cmds.CommentPost(URL, "exported \"quoted\"\n\ttabbed é ✓")).result(60)
        node.run(cmds.CommentPost(URL, "a reply", top.id)).result(60)
        lines = node.run(cmds.CommentExport(URL)).result(10)
        assert len(lines) == 2
        for line in lines:
            event = nostr.Event.from_json(line)
            assert event.verify()
            assert event.id().to_hex() == json.loads(line)["id"]
            assert event.kind().as_u16() == 1111
        foreign = _foreign()
        changed = json.loads(_foreign("will be changed"))
        changed["content"] = "will be Changed"
        results = node.run(cmds.CommentImport(
            [foreign, json.dumps(changed), foreign, _foreign(difficulty=0)])).result(30)
        assert results[0].id == json.loads(foreign)["id"] and not results[0].error
        assert results[1].error == "ForgedComment" and "id does not match" in results[1].reason
        assert results[2].error == "ReplayedComment"
        assert results[3].error == "NotEnoughWork" and "requires 8" in results[3].reason
        listed = node.run(cmds.CommentList(URL)).result(10)
        mine = [c for c in listed if c.id == results[0].id]
        assert mine and mine[0].author == "" and mine[0].nostr == json.loads(foreign)["pubkey"]


def test_a_signature_byte_changed_in_a_foreign_event_is_forged(tmp_path: Path) -> None:
    with node_with_comments(tmp_path / "n") as node:
        event = json.loads(_foreign())
        sig = event["sig"]
        event["sig"] = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        result, = node.run(cmds.CommentImport([json.dumps(event)])).result(30)
        assert result.error == "ForgedComment" and "Schnorr" in result.reason
        assert node.run(cmds.CommentList(URL)).result(10) == []


def test_a_foreign_event_posts_to_the_endpoint_as_it_is(tmp_path: Path) -> None:
    with node_with_comments(tmp_path / "n") as node:
        assert node.comments is not None
        event = _foreign("posted bare")
        conn = http.client.HTTPConnection("127.0.0.1", node.comments.port, timeout=10)
        try:
            conn.request("POST", "/" + url_hash(URL), body=event.encode())
            resp = conn.getresponse()
            assert (resp.status, json.loads(resp.read())["id"]) == \
                (201, json.loads(event)["id"])
        finally:
            conn.close()
        got, = node.run(cmds.CommentList(URL)).result(10)
        assert got.content == "posted bare" and got.author == ""


def test_a_node_export_imports_into_another_node(tmp_path: Path) -> None:
    with node_with_comments(tmp_path / "a") as a, node_with_comments(tmp_path / "b") as b:
        a.run(cmds.CommentPost(URL, "travels")).result(60)
        lines = a.run(cmds.CommentExport(URL)).result(10)
        result, = b.run(cmds.CommentImport(lines)).result(30)
        assert result.id and not result.error
        got, = b.run(cmds.CommentList(URL)).result(10)
        assert got.content == "travels" and got.created_at <= time.time()
