"""The client's clone-pattern rules (engine/api/replica.py), driven with plain values.

No sockets, no threads, no clock: each test feeds the replica publications, replies and
times, and checks the actions it asks for. The end-to-end behaviour over real sockets is
in test_daemon.py and test_cli_remote.py.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import MappingProxyType

import msgspec
import pytest

from tests.helpers.still_engine import torrent
from tidegate.engine.api import protocol as p
from tidegate.engine.api import replica as r
from tidegate.engine.events import Log
from tidegate.engine.state import Phase, SessionStats, Snapshot, TorrentState, enc_hook

EPOCH = "epoch-1"
PUB = "ipc:///run/tidegate/pub"
A, B, C = (torrent(n, f"t{n}", Phase.SEEDING, 1.0) for n in (1, 2, 3))


def snap(seq: int, *torrents: TorrentState) -> Snapshot:
    return Snapshot(seq=seq, time=float(seq), stats=SessionStats(),
                    torrents=MappingProxyType({t.id: t for t in torrents}))


def full_reply(rid: int, snapshot: Snapshot, epoch: str = EPOCH,
               event_seq: int = 0) -> p.Reply:
    full = p.FullSnapshot(epoch=epoch, snapshot=snapshot, event_seq=event_seq)
    return p.Reply(id=rid, ok=True, result=msgspec.to_builtins(full, enc_hook=enc_hook))


def hello_reply(rid: int, epoch: str = EPOCH) -> p.Reply:
    hello = p.Hello(protocol="tidegate/1", epoch=epoch, pid=4242, publish=PUB,
                    snapshot_seq=0, event_seq=0)
    return p.Reply(id=rid, ok=True, result=msgspec.to_builtins(hello))


def delta(seq: int, base: int, changed: tuple[TorrentState, ...] = (),
          removed: tuple[str, ...] = (), epoch: str = EPOCH) -> p.Delta:
    return p.Delta(epoch=epoch, seq=seq, base=base, time=float(seq), changed=list(changed),
                   removed=list(removed), stats=SessionStats(), running=True)


def event(seq: int, epoch: str = EPOCH) -> p.EventFrame:
    return p.EventFrame(epoch=epoch, event=Log(seq=seq, level="info", message=f"e{seq}"))


def beat(snapshot_seq: int, event_seq: int, epoch: str = EPOCH) -> p.Beat:
    return p.Beat(epoch=epoch, snapshot_seq=snapshot_seq, event_seq=event_seq)


def synced(at: Snapshot | None = None, now: float = 10.0) -> r.Replica:
    """A replica that said hello and holds the full snapshot ``at`` (seq 5 holding A)
    after requests 1 and 2."""
    at = snap(5, A) if at is None else at
    rep = r.Replica()
    assert rep.tick(now) == [r.Send("hello")]
    rep.sent(1, "hello", now)
    assert rep.reply(hello_reply(1), now) == [r.Subscribe(PUB), r.Send("snapshot")]
    rep.sent(2, "snapshot", now)
    actions = rep.reply(full_reply(2, at), now)
    assert actions == [r.Publish(rep.snapshot), r.Report(connected=True)]
    return rep


def published(actions: list[r.Action]) -> Snapshot:
    """The one snapshot ``actions`` publish."""
    snaps = [a.snapshot for a in actions if isinstance(a, r.Publish)]
    assert len(snaps) == 1, actions
    return snaps[0]


# ------------------------------------------------------------------ connecting

def test_hello_then_a_full_snapshot_connects() -> None:
    rep = r.Replica()
    assert not rep.connected and rep.epoch is None
    assert rep.tick(0.0) == [r.Send("hello")]
    rep.sent(1, "hello", 0.0)
    assert rep.awaits(1) and not rep.awaits(2) and not rep.awaits(None)
    assert rep.reply(hello_reply(1), 0.1) == [r.Subscribe(PUB), r.Send("snapshot")]
    assert rep.daemon_pid == 4242 and not rep.connected
    assert not rep.resyncing  # only once the request went out
    rep.sent(2, "snapshot", 0.1)
    assert rep.resyncing
    actions = rep.reply(full_reply(2, snap(5, A), event_seq=7), 0.2)
    assert published(actions).seq == 5 and dict(published(actions).torrents) == {A.id: A}
    assert actions[-1] == r.Report(connected=True)
    assert rep.connected and not rep.resyncing
    assert (rep.epoch, rep.event_seq, rep.counters["resyncs"]) == (EPOCH, 7, 1)


def test_a_refused_snapshot_reply_ends_the_resync_and_is_counted() -> None:
    rep = synced()
    assert rep.publication(beat(6, 0), 11.0) == [r.Send("snapshot")]
    rep.sent(3, "snapshot", 11.0)
    refused = p.Reply(id=3, ok=False, error=p.ErrorBody("internal", "boom"))
    assert rep.reply(refused, 11.1) == []
    assert not rep.resyncing and rep.counters["bad_replies"] == 1
    assert rep.publication(beat(6, 0), 12.0) == [r.Send("snapshot")]  # asks again


# ------------------------------------------------------------------ deltas

def test_in_order_deltas_are_applied() -> None:
    rep = synced(snap(5, A))
    s6 = published(rep.publication(delta(6, 5, changed=(B,)), 11.0))
    assert (s6.seq, dict(s6.torrents)) == (6, {A.id: A, B.id: B})
    s7 = published(rep.publication(delta(7, 6, removed=(A.id,)), 11.1))
    assert (s7.seq, dict(s7.torrents)) == (7, {B.id: B})
    assert rep.snapshot is s7 and not rep.resyncing
    assert rep.counters["resyncs"] == 1  # no full snapshot was needed


def test_a_gap_in_deltas_asks_for_a_full_snapshot() -> None:
    rep = synced(snap(5, A))
    assert rep.publication(delta(7, 6, changed=(B,)), 11.0) == [r.Send("snapshot")]
    assert rep.snapshot.seq == 5  # nothing applied across the gap


def test_a_beat_ahead_of_the_snapshot_asks_for_a_full_snapshot() -> None:
    rep = synced(snap(5, A))
    assert rep.publication(beat(5, 0), 11.0) == []
    assert rep.publication(beat(6, 0), 12.0) == [r.Send("snapshot")]
    rep.sent(3, "snapshot", 12.0)
    assert rep.publication(beat(7, 0), 13.0) == []  # one request at a time


def test_deltas_during_a_resync_are_buffered_and_applied_after() -> None:
    rep = synced(snap(5, A))
    assert rep.publication(delta(7, 6, changed=(B,)), 11.0) == [r.Send("snapshot")]
    rep.sent(3, "snapshot", 11.0)
    # in flight: even a delta that would follow the held snapshot waits
    assert rep.publication(delta(9, 8, removed=(A.id,)), 11.1) == []
    assert rep.publication(delta(8, 7, changed=(C,)), 11.2) == []
    assert rep.snapshot.seq == 5
    actions = rep.reply(full_reply(3, snap(6, A)), 11.3)
    assert actions == [r.Publish(rep.snapshot)]  # still connected: nothing to report
    s = published(actions)
    assert (s.seq, dict(s.torrents)) == (9, {B.id: B, C.id: C})  # 7, 8, 9 in seq order
    assert not rep.resyncing
    assert published(rep.publication(delta(10, 9), 11.4)).seq == 10


def test_buffered_deltas_that_do_not_follow_the_full_snapshot_are_dropped() -> None:
    rep = synced(snap(5, A))
    assert rep.publication(delta(7, 6, changed=(B,)), 11.0) == [r.Send("snapshot")]
    rep.sent(3, "snapshot", 11.0)
    s = published(rep.reply(full_reply(3, snap(8, A)), 11.1))
    assert (s.seq, dict(s.torrents)) == (8, {A.id: A})
    assert published(rep.publication(delta(9, 8, changed=(C,)), 11.2)).seq == 9


def test_the_buffer_is_bounded_and_emptied_by_each_full_snapshot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(r, "MAX_BUFFERED", 2)
    rep = synced(snap(5, A))
    assert rep.publication(delta(7, 6), 11.0) == [r.Send("snapshot")]
    rep.sent(3, "snapshot", 11.0)
    assert published(rep.reply(full_reply(3, snap(8, A)), 11.1)).seq == 8  # 7 is dropped
    assert rep.publication(delta(10, 9), 12.0) == [r.Send("snapshot")]
    rep.sent(4, "snapshot", 12.0)
    rep.publication(delta(11, 10), 12.1)
    rep.publication(delta(12, 11), 12.2)  # past the bound: not kept
    assert published(rep.reply(full_reply(4, snap(10, A)), 12.3)).seq == 11


def test_a_stale_delta_is_ignored() -> None:
    rep = synced(snap(5, A))
    held = rep.snapshot
    assert rep.publication(delta(5, 4, removed=(A.id,)), 11.0) == []
    assert rep.publication(delta(3, 2, changed=(B,)), 11.1) == []
    assert rep.snapshot is held and not rep.resyncing


def test_an_unanswered_snapshot_request_is_given_up() -> None:
    rep = synced(snap(5, A))
    assert rep.publication(beat(6, 0), 11.0) == [r.Send("snapshot")]
    rep.sent(3, "snapshot", 11.0)
    assert rep.next_tick(11.0) == 11.5  # the next half-second check comes first
    assert rep.tick(15.9) == [] and rep.resyncing
    assert rep.tick(16.0) == [] and not rep.resyncing and not rep.awaits(3)
    assert rep.publication(beat(6, 0), 16.1) == [r.Send("snapshot")]


# ------------------------------------------------------------------ events

def test_an_event_seq_gap_gives_exactly_one_events_lost() -> None:
    rep = synced()
    e1, e5, e6 = event(1), event(5), event(6)
    assert rep.publication(e1, 11.0) == [r.Deliver(e1.event)]
    assert rep.publication(e5, 11.1) == [r.LoseEvents(seq=5, count=3), r.Deliver(e5.event)]
    assert rep.publication(event(3), 11.2) == []  # late: already reported lost
    assert rep.publication(e5, 11.3) == []  # a repeat
    assert rep.publication(e6, 11.4) == [r.Deliver(e6.event)]
    assert rep.counters["events_lost"] == 3


def test_a_beat_past_the_last_event_reports_the_missed_events_once() -> None:
    rep = synced()
    assert rep.publication(beat(5, 0), 11.0) == []
    assert rep.publication(beat(5, 4), 12.0) == [r.LoseEvents(seq=4, count=4)]
    assert rep.publication(beat(5, 4), 13.0) == []
    assert rep.publication(event(3), 13.1) == []
    e5 = event(5)
    assert rep.publication(e5, 13.2) == [r.Deliver(e5.event)]
    assert rep.counters["events_lost"] == 4


# ------------------------------------------------------------------ a new daemon

def test_a_new_epoch_resyncs() -> None:
    rep = synced(snap(5, A))
    new = "epoch-2"
    assert rep.publication(delta(2, 1, epoch=new), 11.0) == [r.Send("hello")]
    assert rep.snapshot.seq == 5  # another daemon's delta is never applied
    rep.sent(3, "hello", 11.0)
    assert rep.reply(hello_reply(3, new), 11.1) == [r.Subscribe(PUB), r.Send("snapshot")]
    rep.sent(4, "snapshot", 11.1)
    assert rep.publication(event(50, epoch=new), 11.2) == []  # resyncing: wait for it
    actions = rep.reply(full_reply(4, snap(2, C), epoch=new, event_seq=40), 11.3)
    s = published(actions)
    assert (s.seq, dict(s.torrents)) == (2, {C.id: C})  # a lower seq: a new numbering
    assert r.Report(connected=True) not in actions  # never disconnected
    assert (rep.epoch, rep.event_seq) == (new, 40)
    e41 = event(41, epoch=new)
    assert rep.publication(e41, 11.4) == [r.Deliver(e41.event)]
    assert published(rep.publication(delta(3, 2, epoch=new), 11.5)).seq == 3


def test_hello_from_the_same_daemon_while_connected_asks_for_nothing() -> None:
    rep = synced()
    rep.sent(3, "hello", 11.0)
    assert rep.reply(hello_reply(3), 11.1) == [r.Subscribe(PUB)]


def test_the_same_daemon_after_a_full_snapshot_keeps_the_event_numbering() -> None:
    rep = synced()
    e3 = event(3)
    rep.publication(e3, 11.0)
    assert rep.publication(beat(6, 3), 11.5) == [r.Send("snapshot")]
    rep.sent(3, "snapshot", 11.5)
    rep.reply(full_reply(3, snap(6, A), event_seq=9), 11.6)
    assert rep.event_seq == 3  # events 4..9 may still be on their way


# ------------------------------------------------------------------ liveness

def test_missing_beats_report_the_daemon_gone() -> None:
    rep = synced(snap(5, A), now=10.0)
    assert rep.gone(13.5) is None
    rep.publication(beat(5, 0), 13.0)  # any publication is a sign of life
    assert rep.next_tick(13.0) == 13.5
    assert rep.next_tick(16.4) == 16.5  # last heard 13.0 + liveness 3.5
    assert rep.gone(16.5) is None
    why = rep.gone(16.6)
    assert why == "no heartbeat from the daemon for 3.5 s"
    actions = rep.connection_down(why, 16.6)
    gone = published(actions)
    assert (gone.seq, gone.running, dict(gone.torrents)) == (5, False, {A.id: A})
    assert actions[-1] == r.Report(connected=False, message=why)
    assert not rep.connected and rep.counters["disconnects"] == 1
    assert rep.gone(100.0) is None  # reported once
    assert rep.connection_down("again", 16.7) == []
    assert rep.tick(17.0) == []
    assert rep.next_tick(17.0) == pytest.approx(17.1)
    assert rep.tick(17.2) == [r.Send("hello")]  # probing every half second


def test_an_unreadable_publication_is_a_sign_of_life() -> None:
    rep = synced(now=10.0)
    rep.heard(13.0)
    assert rep.gone(16.5) is None and rep.gone(16.6) is not None


def test_the_daemon_returning_resyncs_and_reports_connected() -> None:
    rep = synced(snap(5, A), now=10.0)
    rep.connection_down("the connection to the daemon closed", 11.0)
    rep.connection_up()  # the socket connected again: hello at once
    assert rep.tick(11.01) == [r.Send("hello")]
    rep.sent(3, "hello", 11.01)
    # the same daemon, but what happened while we were away is unknown: full snapshot
    assert rep.reply(hello_reply(3), 11.1) == [r.Subscribe(PUB), r.Send("snapshot")]
    rep.sent(4, "snapshot", 11.1)
    actions = rep.reply(full_reply(4, snap(8, A)), 11.2)
    assert published(actions).running and published(actions).seq == 8
    assert actions[-1] == r.Report(connected=True)
    assert rep.connected and rep.counters["resyncs"] == 2


# ------------------------------------------------------------------ sans-IO

def test_the_replica_does_no_io() -> None:
    tree = ast.parse(Path(r.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert not imported & {"zmq", "socket", "selectors", "threading", "time", "asyncio"}


def test_the_parts_travel_in_a_delta_only_when_they_changed() -> None:
    """The watcher's part states (Snapshot.parts): a delta carries them when the server's
    mapping is a new one, and the replica keeps the same mapping otherwise."""
    from tidegate.engine.api.delta import diff
    from tidegate.engine.state import PartState

    running = MappingProxyType({"tor": PartState(name="tor")})
    failed = MappingProxyType({"tor": PartState(name="tor", status="restarting",
                                                restarts=1, failure="killed by SIGKILL",
                                                retry_at=12.5)})
    s5 = msgspec.structs.replace(snap(5, A), parts=running)
    s6 = msgspec.structs.replace(snap(6, A), torrents=s5.torrents, parts=running)
    s7 = msgspec.structs.replace(snap(7, A), torrents=s5.torrents, parts=failed)
    assert diff(s5, s6, EPOCH).parts is None
    wire = diff(s6, s7, EPOCH)
    assert wire.parts == list(failed.values())
    rep = synced(s5)
    held = published(rep.publication(diff(s5, s6, EPOCH), 11.0))
    assert held.parts is rep.snapshot.parts and dict(held.parts) == dict(running)
    held = published(rep.publication(wire, 12.0))
    assert dict(held.parts) == dict(failed)
