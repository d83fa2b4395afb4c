"""RSS from the command line: ``tidegate rss add/rm/ls/refresh`` and ``tidegate rss rule
set/rm`` (docs/automation.md). The daemon polls the feeds; these change and show them.

Feed titles, URLs and errors come from outside: every one printed goes through
``console.clean`` and is never markup.
"""

from __future__ import annotations

import argparse
import time

from tidegate.engine import commands as cmds
from tidegate.engine.automation.rss_state import RssState

from ..console import clean, note, print_json
from ..remote import add_connect_options, connect, local_folder


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rss", help="RSS and Atom feeds, and the rules that add what they "
                                   "list")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="add a feed (or give one a new interval); polled at "
                                       "once")
    add.add_argument("url", metavar="URL")
    add.add_argument("--interval", type=float, default=0.0, metavar="SECONDS",
                     help="seconds between polls (default: rss.interval)")
    add.set_defaults(run=run_add)
    rm = verbs.add_parser("rm", help="stop polling a feed")
    rm.add_argument("url", metavar="URL")
    rm.set_defaults(run=run_rm)
    ls = verbs.add_parser("ls", help="feeds (last poll, error), rules and the latest items "
                                     "added or refused")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_ls)
    ref = verbs.add_parser("refresh", help="poll a feed (or every feed) now")
    ref.add_argument("url", nargs="?", default="", metavar="URL")
    ref.set_defaults(run=run_refresh)
    rule = verbs.add_parser("rule", help="download rules")
    rverbs = rule.add_subparsers(dest="rule_verb", metavar="VERB", required=True)
    rset = rverbs.add_parser("set", help="add a rule or replace the one of that name",
                             description="A rule adds the items whose title its --include "
                                         "expression finds, its --exclude does not, and "
                                         "whose episode its --episodes filter holds "
                                         "(1x01-1x10;2x- or S01E01-S01E10;S02-).")
    rset.add_argument("name", metavar="NAME")
    rset.add_argument("--include", default="", metavar="REGEX",
                      help="regular expression a title must contain (case-insensitive)")
    rset.add_argument("--exclude", default="", metavar="REGEX",
                      help="regular expression a title must not contain")
    rset.add_argument("--episodes", default="", metavar="FILTER",
                      help="episode filter: 1x05, 1x01-10, 1x08-2x03, 1x05-, 2x- (or "
                           "S01E05 forms), separated by ;")
    rset.add_argument("--feed", action="append", default=[], metavar="URL", dest="feeds",
                      help="a feed the rule applies to (repeatable; default: every feed)")
    rset.add_argument("--category", default="", metavar="NAME",
                      help="category of what it adds (made when missing)")
    rset.add_argument("--save-path", default="", metavar="DIR",
                      help="folder of what it adds")
    rset.add_argument("--disabled", action="store_true", help="keep the rule, match nothing")
    rset.set_defaults(run=run_rule_set)
    rrm = rverbs.add_parser("rm", help="remove a rule")
    rrm.add_argument("name", metavar="NAME")
    rrm.set_defaults(run=run_rule_rm)
    for q in (add, rm, ls, ref, rset, rrm):
        add_connect_options(q)


def run_add(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        feed = client.run(cmds.RssFeedAdd(args.url, args.interval)).result()
    finally:
        client.stop()
    every = f"every {feed.interval:g} s" if feed.interval else "every rss.interval"
    note(f"feed {clean(feed.url)}: polled {every}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        client.run(cmds.RssFeedRemove(args.url)).result()
    finally:
        client.stop()
    note(f"removed feed {clean(args.url.strip())}")
    return 0


def run_rule_set(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        rule = client.run(cmds.RssRuleSet(
            args.name, include=args.include, exclude=args.exclude, episodes=args.episodes,
            feeds=list(args.feeds), category=args.category,
            save_path=local_folder(args.save_path) or "", enabled=not args.disabled)).result()
    finally:
        client.stop()
    note(f"rule {clean(rule.name)} set")
    return 0


def run_rule_rm(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        client.run(cmds.RssRuleRemove(args.name)).result()
    finally:
        client.stop()
    note(f"removed rule {clean(args.name.strip())}")
    return 0


def run_ls(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        state = client.run(cmds.RssList()).result()
    finally:
        client.stop()
    if args.json:
        print_json(state)
        return 0
    show(state)
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        state = client.run(cmds.RssRefresh(args.url)).result()
    finally:
        client.stop()
    show(state)
    failed = [f for f in state.feeds if f.last_error and (not args.url or f.url == args.url)]
    return 1 if failed else 0


def _ago(t: float) -> str:
    if not t:
        return "never polled"
    return f"polled {max(0, int(time.time() - t))} s ago"


def show(state: RssState) -> None:
    """Feeds, rules and the latest items, for people (every outside text cleaned)."""
    if state.error:
        note(f"problem: {clean(state.error)}")
    if not state.enabled:
        note("polling is off (rss.enabled = false)")
    if not state.feeds:
        note("no feeds (add one with `tidegate rss add URL`)")
    for f in state.feeds:
        title = f" ({clean(f.title)})" if f.title else ""
        every = f"every {f.interval:g} s" if f.interval else "every rss.interval"
        note(f"feed {clean(f.url)}{title}: {every}, {_ago(f.last_poll)}, {f.items} items, "
             f"{f.added} added")
        if f.last_error:
            note(f"  error: {clean(f.last_error)}")
    if not state.rules:
        note("no rules (add one with `tidegate rss rule set NAME --include REGEX`)")
    for r in state.rules:
        parts = [f"include {r.include!r}" if r.include else "any title"]
        if r.exclude:
            parts.append(f"exclude {r.exclude!r}")
        if r.episodes:
            parts.append(f"episodes {r.episodes}")
        if r.category:
            parts.append(f"category {r.category}")
        if r.save_path:
            parts.append(f"save path {r.save_path}")
        parts.append(f"feeds {', '.join(r.feeds)}" if r.feeds else "every feed")
        off = " (disabled)" if not r.enabled else ""
        note(f"rule {clean(r.name)}{off}: {clean('; '.join(parts))}")
    for e in state.log[-10:]:
        note(f"  {clean(e.title)} (rule {clean(e.rule)}): {clean(e.outcome)}")
    note(f"{state.history} items remembered as added")
