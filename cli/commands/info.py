"""``tidegate info`` and ``tidegate config``: look without changing anything."""

from __future__ import annotations

import argparse

from tidegate.engine import config as config_mod
from tidegate.engine import units as fmt
from tidegate.engine.errors import ConfigError
from tidegate.engine.paths import resolve_paths

from ..console import clean, fail, out, print_json
from ..tables import KEEP_ALWAYS, Column, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show what a .torrent or magnet contains")
    p.add_argument("source", metavar="TORRENT|MAGNET")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_info)

    c = sub.add_parser("config", help="show the effective configuration and where each value "
                                      "comes from")
    c.add_argument("--json", action="store_true")
    c.set_defaults(run=run_config)


def run_info(args: argparse.Namespace) -> int:
    # libtorrent: imported by the command that uses it
    from tidegate.engine.metainfo import (
        describe_torrent,
        describe_uri,
        is_url,
        looks_like_uri,
        read_torrent_file,
        request_for,
    )

    loaded = config_mod.load()
    if looks_like_uri(args.source):
        meta = describe_uri(args.source)
    elif is_url(args.source):
        req = request_for(args.source, loaded.config.limits, config=loaded.config)
        assert req.torrent is not None
        meta = describe_torrent(req.torrent, args.source, loaded.config.limits)
    else:
        meta = describe_torrent(read_torrent_file(args.source, loaded.config.limits),
                                args.source, loaded.config.limits)
    if args.json:
        print_json(meta)
        return 0
    out.print(f"name:        {clean(meta.name) or '(unknown until metadata)'}", markup=False)
    if meta.info_hash_v1:
        out.print(f"info-hash v1: {meta.info_hash_v1}")
    if meta.info_hash_v2:
        out.print(f"info-hash v2: {meta.info_hash_v2}")
    if meta.has_metadata:
        out.print(f"size:        {fmt.size(meta.total_size)} in {len(meta.files)} files, "
                  f"{meta.num_pieces} pieces of {fmt.size(meta.piece_size)}")
        out.print(f"private:     {'yes' if meta.private else 'no'}")
        if meta.comment:
            out.print(f"comment:     {clean(meta.comment)}", markup=False)
        if meta.creator:
            out.print(f"created by:  {clean(meta.creator)}", markup=False)
    for url in meta.trackers:
        out.print(f"tracker:     {clean(url)}", markup=False)
    for url in meta.web_seeds:
        out.print(f"web seed:    {clean(url)}", markup=False)
    if meta.files:
        from rich.text import Text

        print_table((Column("size", 50, "right"), Column("path", KEEP_ALWAYS, wrap=True)),
                    [(fmt.size(f.size), Text(clean(f.path))) for f in meta.files])
    out.print(f"magnet:      {clean(meta.magnet)}", markup=False)
    return 0


def run_config(args: argparse.Namespace) -> int:
    """Every key, its value and where it comes from. A config file with an error is
    reported (stderr, exit code 1) and the keys are still listed, with their defaults: this
    is where that error's hint sends people."""
    error: ConfigError | None = None
    try:
        loaded = config_mod.load()
    except ConfigError as exc:
        error = exc
        paths = resolve_paths()
        loaded = config_mod.LoadedConfig(config_mod.Config(), paths, frozenset(),
                                         paths.config_file.is_file())
    values = config_mod.flatten(loaded.config)
    if error is not None:
        fail(str(error), "the file is not used until this is fixed; every key and its "
                         "default follow")
    if args.json:
        print_json({
            "error": str(error) if error else None,
            "config_file": str(loaded.paths.config_file),
            "config_file_exists": loaded.file_exists,
            "data_dir": str(loaded.paths.data_dir),
            "runtime_dir": str(loaded.paths.runtime_dir),
            "download_dir": str(loaded.download_dir()),
            "settings": {k: {"value": v, "source": loaded.source_of(k)}
                         for k, v in values.items()},
        })
        return 1 if error else 0
    state = " (has an error: showing defaults)" if error else \
        "" if loaded.file_exists else " (absent: all defaults)"
    out.print(f"# config file: {loaded.paths.config_file}{state}", markup=False)
    out.print(f"# data dir:    {loaded.paths.data_dir}", markup=False)
    out.print(f"# downloads:   {loaded.download_dir()}", markup=False)
    section = None
    for key, value in values.items():
        sec, name = key.split(".", 1)
        if sec != section:
            out.print(f"\n[{sec}]", markup=False)
            section = sec
        shown = "********" if name == "password" and value else value
        source = loaded.source_of(key)
        out.print(f"{name} = {_toml(shown)}  # {source}", markup=False)
    return 1 if error else 0


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    fields = getattr(value, "__struct_fields__", None)
    if fields is not None:  # a table in a list (``[[schedule.windows]]``): inline
        return "{" + ", ".join(f"{f} = {_toml(getattr(value, f))}" for f in fields) + "}"
    return str(value)
