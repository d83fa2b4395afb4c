"""Converting libtorrent status and info objects into engine values.

Pure copying: every function takes a libtorrent object and returns frozen
values, so nothing from libtorrent outlives the engine thread's loop iteration.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import libtorrent as lt

from ..state import FileState, PeerState, Phase, TorrentState, TrackerState
from .inputs import hash_hex
from .resume import TorrentExtras
from .shared import Shared
from .text import as_text, read_text, read_url

_S = lt.torrent_status.states
_CHECKING = {_S.checking_files, _S.checking_resume_data}
if hasattr(_S, "allocating"):
    _CHECKING.add(_S.allocating)


def phase_of(s: lt.torrent_status, extras: TorrentExtras, disk_error: str = "") -> Phase:
    if s.errc.value() or disk_error:
        return Phase.ERROR
    if s.moving_storage:
        return Phase.MOVING
    paused = bool(s.flags & lt.torrent_flags.paused)
    if s.state in _CHECKING:
        return Phase.CHECKING
    if extras.metadata_first and s.has_metadata and not (
            paused and not s.flags & lt.torrent_flags.auto_managed):
        return Phase.CHOOSE_FILES
    if paused:
        auto = bool(s.flags & lt.torrent_flags.auto_managed)
        return Phase.QUEUED if auto else Phase.PAUSED
    if s.state == _S.downloading_metadata:
        return Phase.METADATA
    if s.state == _S.seeding:
        return Phase.SEEDING
    if s.state == _S.finished:
        return Phase.FINISHED
    return Phase.DOWNLOADING


def ratio_of(s: lt.torrent_status) -> float:
    down = s.all_time_download or s.total_wanted_done
    # 0.0 itself when nothing was uploaded: not a new float per torrent
    return s.all_time_upload / down if down > 0 and s.all_time_upload else 0.0


_ONE = 1.0
_NOT_SHARED: Shared[Any] = Shared(limit=0)


def torrent_state(
    torrent_id: str, s: lt.torrent_status, extras: TorrentExtras, flushed: bool,
    disk_error: str = "", number: int = 0, total_pieces: int = 0,
    texts: Shared[str] = _NOT_SHARED, numbers: Shared[int] = _NOT_SHARED,
) -> TorrentState:
    """``disk_error``: a failed write the engine keeps (libtorrent itself only stops
    downloading, and shows no error). ``number``: its small number for people.
    ``texts``, ``numbers``: the engine's tables of shared values (:mod:`.shared`): equal
    save paths and numbers above 256 are then one object in every state."""
    v1, v2 = hash_hex(s.info_hashes)
    # the id is one of the hashes: one string, not two equal ones (89 bytes each)
    v1 = torrent_id if v1 == torrent_id else v1
    v2 = torrent_id if v2 == torrent_id else v2
    n = numbers
    progress = float(s.progress)
    phase = phase_of(s, extras, disk_error)
    remaining = s.total_wanted - s.total_wanted_done
    # libtorrent stops updating a paused torrent, so its last rates would linger; and its
    # rates are averages that decay over seconds, so a torrent that just finished, or just
    # lost its last peer, would go on showing a download rate it no longer has.
    idle = phase in (Phase.PAUSED, Phase.QUEUED, Phase.CHOOSE_FILES, Phase.ERROR) or (
        s.num_peers == 0)
    done = phase in (Phase.SEEDING, Phase.FINISHED)
    rate = 0 if idle or done else s.download_payload_rate
    eta = remaining // rate if (phase == Phase.DOWNLOADING and rate > 0) else -1
    return TorrentState(
        id=torrent_id,
        number=number,
        name=read_text(lambda: s.name) or torrent_id,
        info_hash_v1=v1,
        info_hash_v2=v2,
        phase=phase,
        progress=_ONE if progress == _ONE else progress,
        total_size=n(s.total) if s.has_metadata else 0,
        wanted=n(s.total_wanted),
        wanted_done=n(s.total_wanted_done),
        download_rate=rate,
        upload_rate=0 if idle else s.upload_payload_rate,
        num_peers=s.num_peers,
        num_seeds=s.num_seeds,
        swarm_seeds=s.num_complete,
        swarm_peers=s.num_incomplete,
        all_time_download=n(s.all_time_download),
        all_time_upload=n(s.all_time_upload),
        ratio=ratio_of(s),
        eta=int(eta),
        save_path=texts(read_text(lambda: s.save_path)),
        added_time=n(int(s.added_time)),
        completed_time=n(int(s.completed_time)),
        seeding_time=n(int(s.seeding_duration.total_seconds())),
        has_metadata=s.has_metadata,
        paused=bool(s.flags & lt.torrent_flags.paused)
        and not (s.flags & lt.torrent_flags.auto_managed),
        sequential=bool(s.flags & lt.torrent_flags.sequential_download),
        queue_position=n(int(s.queue_position)),
        download_limit=max(0, s.download_limit),
        upload_limit=max(0, s.upload_limit),
        ratio_limit=extras.ratio_limit,
        seed_time_limit=extras.seed_time_limit,
        complete_on_disk=bool(s.is_finished and s.has_metadata and flushed and s.total_wanted > 0),
        error=disk_error or (read_text(s.errc.message) if s.errc.value() else ""),
        num_pieces=n(total_pieces) if s.has_metadata else 0,  # s.num_pieces: the pieces had
        pieces_done=n(s.num_pieces),
        site=extras.site,
        site_role=extras.site_role,
        category=extras.category,
        tags=tuple(extras.tags),
        complete_dir=extras.complete_dir,
    )


def files_of(h: lt.torrent_handle, ti: lt.torrent_info) -> tuple[FileState, ...]:
    fs = ti.layout()
    progress = h.file_progress()
    prios = h.get_file_priorities()
    renamed = h.status(lt.status_flags_t.query_renamed_files).renamed_files
    out = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        path = read_text(lambda i=i: renamed.file_path(fs, i))  # type: ignore[misc]
        out.append(FileState(index=i, path=path, size=fs.file_size(i),
                             done=int(progress[i]), priority=int(prios[i])))
    return tuple(out)


def _peer_flags(p: lt.peer_info) -> str:
    f = p.flags
    letters = []
    if f & lt.peer_info.seed:
        letters.append("S")
    if f & (lt.peer_info.rc4_encrypted | lt.peer_info.plaintext_encrypted):
        letters.append("E")
    if not f & lt.peer_info.local_connection:
        letters.append("I")
    if f & lt.peer_info.remote_choked:
        letters.append("C")
    if f & lt.peer_info.choked:
        letters.append("c")
    return "".join(letters)


def peers_of(h: lt.torrent_handle) -> tuple[PeerState, ...]:
    out = []
    for p in h.get_peer_info():
        addr, port = p.ip
        client = read_text(lambda p=p: p.client)  # type: ignore[misc]
        out.append(PeerState(address=str(addr), port=int(port), client=client,
                             flags=_peer_flags(p), download_rate=p.payload_down_speed,
                             upload_rate=p.payload_up_speed, progress=float(p.progress)))
    return tuple(out)


def trackers_of(h: lt.torrent_handle, known: Sequence[tuple[str, int]] | None = None,
                known_errors: Mapping[str, str] | None = None,
                dropped: Mapping[str, tuple[int, str]] | None = None,
                ) -> tuple[TrackerState, ...]:
    """Each tracker as one row, over all its announces, then the ``dropped`` ones (url ->
    tier, why: taken off for flooding, :mod:`.flood`) as errors saying why.

    A tracker message that is not valid UTF-8 makes libtorrent's whole list unreadable
    from Python; then the rows are the ``known`` (url, tier) pairs the engine kept, with
    the last ``known_errors`` seen per URL in tracker alerts (read with U+FFFD).

    libtorrent announces once per listen socket and per info-hash (v1, and v2 truncated
    to 20 bytes); ``announce_entry`` also lists the v2 slot of a v1 torrent, never used.
    A tracker that answers any announce is ``working`` (a v1-only tracker then still
    shows the v2 hash's refusal in ``last_error``); ``next_announce`` is the earliest,
    ``fails`` the longest run of failures.
    """
    gone = tuple(TrackerState(url=url, tier=tier, status="error", seeds=-1, leechers=-1,
                              next_announce=-1, last_error=why)
                 for url, (tier, why) in (dropped or {}).items())
    try:
        entries = h.trackers()
    except UnicodeDecodeError:
        seen = known_errors or {}
        return tuple(TrackerState(url=url, tier=tier,
                                  status="error" if url in seen else "not contacted",
                                  seeds=-1, leechers=-1, next_announce=-1,
                                  last_error=seen.get(url, ""))
                     for url, tier in known or []) + gone
    ih = h.info_hashes()
    used = [ih.has_v1(), ih.has_v2()]
    hybrid = all(used)
    out = []
    for t in entries:
        seeds = leechers = -1
        next_at: int | None = None
        fails = 0
        working = updating = False
        errors: dict[str, str] = {}
        for ep in t.get("endpoints", []):
            for slot, a in enumerate(ep.get("info_hashes", [])):
                if slot >= 2 or not used[slot]:
                    continue
                if a.get("scrape_complete", -1) >= 0:
                    seeds = max(seeds, a["scrape_complete"])
                if a.get("scrape_incomplete", -1) >= 0:
                    leechers = max(leechers, a["scrape_incomplete"])
                err = a.get("last_error") or {}
                failed = bool(err.get("value")) or bool(a.get("fails"))
                fails = max(fails, int(a.get("fails", 0)))
                if failed:
                    errors[f"v{slot + 1}"] = as_text(a.get("message") or "") or \
                        _error_text(err)
                updating |= bool(a.get("updating"))
                working |= bool(a.get("start_sent")) and not failed
                na = _epoch(a.get("next_announce"))
                if na is not None and (a.get("start_sent") or failed or a.get("updating")):
                    next_at = na if next_at is None else min(next_at, na)
        status = ("working" if working else "announcing" if updating
                  else "error" if errors else "not contacted")
        next_in = -1 if next_at is None else max(0, next_at - int(time.time()))
        out.append(TrackerState(url=read_url(lambda t=t: t["url"]),  # type: ignore[misc]
                                tier=int(t["tier"]), status=status, seeds=seeds,
                                leechers=leechers, next_announce=next_in,
                                last_error=_join_errors(errors, hybrid), fails=fails))
    return tuple(out) + gone


def _join_errors(errors: dict[str, str], hybrid: bool) -> str:
    """One message; a hybrid torrent's per-hash messages are named when they differ or
    only one hash failed."""
    texts = set(errors.values())
    if len(texts) == 1 and (not hybrid or len(errors) == 2):
        return texts.pop()
    return "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))


def _epoch(value: Any) -> int | None:
    """``next_announce`` as unix seconds: the binding gives an int (a datetime in some
    builds); 0 or less means never scheduled."""
    if hasattr(value, "timestamp"):
        value = value.timestamp()
    if isinstance(value, int | float) and value > 0:
        return int(value)
    return None


_CATEGORIES = {c().name(): c for c in (lt.libtorrent_category, lt.system_category,
                                        lt.generic_category, lt.http_category,
                                        lt.socks_category, lt.i2p_category,
                                        lt.bdecode_category, lt.upnp_category)}


def _error_text(err: Mapping[str, Any]) -> str:
    """libtorrent reports tracker errors as ``{value, category}``: its own message for them
    ("timed out", "Connection refused"), like ``error_code.message()``."""
    value = err.get("value")
    category = str(err.get("category", ""))
    make = _CATEGORIES.get(category)
    if isinstance(value, int) and make is not None:
        code = lt.error_code()
        code.assign(value, make())
        return str(code.message())
    if isinstance(value, int) and category in ("asio.system", ""):
        try:
            return os.strerror(value)
        except ValueError:
            pass
    return f"{category} error {value}".strip()
