"""The torrent list's rules (tui.model) and the rate history, as pure functions."""

from __future__ import annotations

from types import MappingProxyType

from tests.helpers.still_engine import TORRENTS, torrent
from tidegate.engine.state import Phase, SessionStats, Snapshot
from tidegate.tui.history import SESSION, RateHistory
from tidegate.tui.model import (
    COLUMNS,
    MIN_NAME,
    NAME_SHARE,
    STATE_FILTERS,
    ViewSpec,
    count_states,
    layout,
    next_sort,
    rows,
)


def test_count_states_agrees_with_each_filter() -> None:
    many = [torrent(i % 90, f"t{i}", phase, p, id=f"{i:040x}", error="x" if i % 7 == 0 else "")
            for i, (phase, p) in enumerate((ph, p) for ph in Phase for p in (0.0, 0.5, 1.0))]
    counts = count_states(many)
    for f in STATE_FILTERS:
        assert counts[f.key] == sum(1 for t in many if f.test(t)), f.key
    assert counts["all"] == len(many)


def test_layout_drops_columns_by_rank_and_keeps_the_name_wide() -> None:
    wide = layout(200)
    assert [c.key for c, _x, _w in wide] == [c.key for c in COLUMNS]
    narrow = layout(80)
    keys = [c.key for c, _x, _w in narrow]
    assert "name" in keys and "progress" in keys and "state" in keys
    assert "added" not in keys
    name_width = next(w for c, _x, w in narrow if c.key == "name")
    assert name_width >= MIN_NAME and name_width >= 80 * NAME_SHARE
    assert keys[0] == "number"  # the stable number the CLI takes is kept
    at_120 = {c.key: w for c, _x, w in layout(120)}
    assert at_120["name"] >= 36 and "number" in at_120 and "down" in at_120
    last_column, x, w = narrow[-1]
    assert x + w <= 80
    for (_c1, x1, w1), (_c2, x2, _w2) in zip(narrow, narrow[1:], strict=False):
        assert x2 == x1 + w1 + 1


def test_rows_filter_sort_and_tie_break() -> None:
    m = MappingProxyType({t.id: t for t in TORRENTS})
    assert len(rows(m, ViewSpec())) == len(TORRENTS)
    assert [t.name for t in rows(m, ViewSpec(text="BUNNY"))] == ["Big Buck Bunny (2008) 1080p"]
    assert [t.id for t in rows(m, ViewSpec(text="0303"))] == ["03" * 20]
    by_size = rows(m, ViewSpec(sort="size", reverse=True))
    assert [t.total_size for t in by_size] == sorted((t.total_size for t in TORRENTS),
                                                     reverse=True)
    paused = rows(m, ViewSpec(state="paused"))
    assert [t.phase for t in paused] == [Phase.PAUSED]
    spec = ViewSpec()
    seen = {spec.sort}
    for _ in COLUMNS:
        spec = next_sort(spec, 1)
        seen.add(spec.sort)
    assert seen == {c.key for c in COLUMNS}


def test_rate_history_records_active_torrents_only_and_forgets_them() -> None:
    idle, busy = TORRENTS[2], TORRENTS[0]
    history = RateHistory(window=10)
    for second in range(30):
        torrents = {idle.id: idle, busy.id: busy} if second < 15 else {idle.id: idle}
        history.add(Snapshot(seq=second + 1, time=float(second),
                             torrents=MappingProxyType(torrents),
                             stats=SessionStats(payload_download_rate=second)))
        if second == 14:
            samples = history.of(busy.id)
            assert [t for t, _d, _u in samples] == [float(s) for s in range(4, 15)]
            assert samples[-1][1:] == (busy.download_rate, busy.upload_rate)
    assert history.of(idle.id) == []
    assert history.of(busy.id) == [], "removed torrents are forgotten"
    session = history.of(SESSION)
    assert session[0][0] >= 29 - 10 and session[-1] == (29.0, 29, 0)
    history.add(Snapshot(seq=5, time=99.0, torrents=MappingProxyType({}), stats=SessionStats()))
    assert history.of(SESSION)[-1][0] == 29.0, "an older snapshot is ignored"


def test_rate_history_keeps_sampling_when_the_engine_reuses_its_mapping() -> None:
    idle, busy = TORRENTS[2], TORRENTS[0]
    history = RateHistory(window=100)
    same = MappingProxyType({idle.id: idle, busy.id: busy})  # as the engine does when idle
    for second in range(5):
        history.add(Snapshot(seq=second + 1, time=float(second), torrents=same,
                             stats=SessionStats()))
    assert [t for t, _d, _u in history.of(busy.id)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert history.of(idle.id) == []


def test_name_order_kept_through_arrivals_renames_and_removals() -> None:
    """The kept order equals a full sort after every change: torrents arriving in batches
    (a daemon loading), one renamed, some removed, names equal but for case."""
    import random

    from tidegate.engine.state import TorrentState
    from tidegate.tui.model import NameOrder

    rng = random.Random(7)
    names = ["alpha", "Alpha", "beta", "ünïcode", "zeta", "Zeta", "mid", ""]
    pool = [torrent(i, f"{rng.choice(names)}{rng.randrange(30)}", Phase.SEEDING, 1.0,
                    id=f"{i:040x}") for i in range(600)]
    order = NameOrder()
    current: dict[str, TorrentState] = {}

    def check() -> None:
        m = MappingProxyType(dict(current))
        got = order(m)
        assert got == sorted(m, key=lambda tid: (m[tid].name.casefold(), tid))
        assert order(m) is got  # the same mapping: nothing recomputed

    for start in range(0, 500, 100):  # arrivals in batches, in no name order
        for t in pool[start:start + 100]:
            current[t.id] = t
        check()
    renamed = pool[3]
    current[renamed.id] = torrent(3, "AAA first now", Phase.SEEDING, 1.0, id=renamed.id)
    check()
    for t in pool[10:60]:
        del current[t.id]
    check()
    for t in pool[500:]:  # arrivals after removals
        current[t.id] = t
    check()


def test_status_bar_says_how_many_torrents_are_still_loading() -> None:
    from tidegate.tui.widgets.status_bar import StatusBar

    bar = StatusBar("embedded")
    bar.show(SessionStats(loading=12_345), 100, 100, 0, True)
    assert "100 torrents (loading 12,345 more)" in bar.render().plain
    bar.show(SessionStats(), 50_000, 50_000, 0, True)
    assert "loading" not in bar.render().plain
