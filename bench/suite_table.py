"""bench/suite.py's one table: a row per measurement, tidegate's MB/s, the other side's, their
ratio, and the physical limit (bench/limits.py) that bounds it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, TextIO

OTHER_NAMES = {"raw": "raw libtorrent, tidegate's settings",
               "raw-defaults": "raw libtorrent, its defaults", "aria2": "aria2c",
               "transmission": "transmission-cli", "qbittorrent": "qbittorrent-nox",
               "raw-auto-managed": "raw libtorrent, tidegate's settings, auto-managed"}


@dataclass
class Row:
    measurement: str
    other_name: str
    tidegate: float | None
    """tidegate's median MB/s (None: not measured)"""
    other: float | None
    """the other side's median MB/s (None: missing)"""
    limit: float
    """the physical limit's MB/s (the smallest of those in limit_text)"""
    limit_text: str
    missing: str = ""
    """"missing: PROGRAM" when the other side's program is not installed"""

    @property
    def ratio(self) -> float | None:
        """tidegate / other (> 1: tidegate is faster)"""
        if self.tidegate is None or not self.other:
            return None
        return self.tidegate / self.other

    def as_dict(self) -> dict[str, Any]:
        return {"measurement": self.measurement, "other_name": self.other_name,
                "tidegate_mb_s": self.tidegate, "other_mb_s": self.other,
                "ratio": self.ratio, "limit_mb_s": self.limit, "limit": self.limit_text,
                "missing": self.missing}


def _net_limit(lim: dict[str, float]) -> tuple[float, str]:
    return (min(lim["loopback"], lim["disk_write"]),
            f"loopback {lim['loopback']:.0f}, disk write {lim['disk_write']:.0f}")


def download_rows(label: str, res: dict[str, Any], clients: list[str],
                  missing: dict[str, str], lim: dict[str, float]) -> list[Row]:
    """A row per client other than tidegate, then the seeds' row (``res``: report()'s)."""
    limit, text = _net_limit(lim)
    tg = res["tidegate"]["mb_s"]
    rows = []
    for c in clients:
        if c == "tidegate":
            continue
        other = None if c in missing else res[c]["mb_s"]
        rows.append(Row(label, OTHER_NAMES[c], tg, other, limit, text,
                        f"missing: {missing[c]}" if c in missing else ""))
    name = "seed: tidegate download from a qbittorrent-nox seed"
    if "qbittorrent" in missing:
        rows.append(Row(f"{label}, seeds", name, None, None, limit, text,
                        f"missing: {missing['qbittorrent']}"))
    else:
        seeds = res["seeds"]
        rows.append(Row(f"{label}, seeds", name, seeds["tidegate-seed"]["mb_s"],
                        seeds["qbittorrent-seed"]["mb_s"], limit, text))
    return rows


def recheck_rows(label: str, runs: list[dict[str, Any]], size: int,
                 lim: dict[str, float]) -> list[Row]:
    def mb_s(side: str) -> float:
        return statistics.median(r["mb_s"] for r in runs if r["side"] == side)

    text = f"SHA-1 2 cores {lim['sha1_2']:.0f} (1 core {lim['sha1_1']:.0f})"
    return [Row(label, OTHER_NAMES[side], mb_s("tidegate"), mb_s(side), lim["sha1_2"], text)
            for side in ("raw", "raw-defaults", "raw-auto-managed")]


def create_rows(label: str, walls: dict[str, float], size: int, missing: dict[str, str],
                lim: dict[str, float]) -> list[Row]:
    """tidegate v1/v2/hybrid against libtorrent's, and v1 against mktorrent."""
    def mb_s(name: str) -> float:
        return size / walls[name] / 1e6

    both = 1 / (1 / lim["sha1_2"] + 1 / lim["sha256_2"])  # a hybrid hashes every byte twice
    limits = {"v1": (lim["sha1_2"], f"SHA-1 2 cores {lim['sha1_2']:.0f}"),
              "v2": (lim["sha256_2"], f"SHA-256 2 cores {lim['sha256_2']:.0f}"),
              "hybrid": (both, f"SHA-1 then SHA-256, 2 cores {both:.0f}")}
    rows = [Row(f"{label} {fmt}", "libtorrent set_piece_hashes", mb_s(f"tidegate {fmt}"),
                mb_s(f"libtorrent {fmt}"), *limits[fmt]) for fmt in ("v1", "v2", "hybrid")]
    mk = next(n for n in walls.keys() | {"mktorrent -t 2"} if n.startswith("mktorrent"))
    rows.append(Row(f"{label} v1", mk, mb_s("tidegate v1"),
                    None if "mktorrent" in missing else mb_s(mk), *limits["v1"],
                    f"missing: {missing['mktorrent']}" if "mktorrent" in missing else ""))
    return rows


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(rows: list[Row], out: TextIO) -> None:
    print("| measurement | other side | tidegate MB/s | other MB/s | ratio tidegate/other | "
          "limit MB/s (what bounds it) |", file=out)
    print("|---|---|---:|---:|---:|---|", file=out)
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.3f}"
        other = r.missing or _cell(r.other)
        print(f"| {r.measurement} | {r.other_name} | {_cell(r.tidegate)} | {other} | {ratio} "
              f"| {r.limit:.0f} ({r.limit_text}) |", file=out)
