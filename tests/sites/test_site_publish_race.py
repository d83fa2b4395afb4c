"""`site publish` reads each source file once, through one descriptor opened without
following links (issue 20): a file swapped for a symlink after the listing never gets a file
only the publisher can read into the signed snapshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.other_user import SYSTEM_PYTHON, open_folder, other_user
from tidegate.engine.chain.codec import encode_chain
from tidegate.engine.errors import CreateError
from tidegate.engine.sites.snapshot import snapshot, stage

SECRET = b"TOP-SECRET-of-the-publisher\n" * 64


def _secret(base: Path) -> Path:
    private = base / "private"
    private.mkdir(mode=0o700)
    path = private / "secret.txt"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def _staged(dest: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((dest / "site").rglob("*")) if p.is_file())


def test_links_fifos_and_sockets_are_refused_by_name_without_blocking(tmp_path: Path) -> None:
    import socket
    for kind in ("symlink", "fifo", "socket"):
        folder = tmp_path / f"src-{kind}"
        folder.mkdir()
        (folder / "index.html").write_bytes(b"hi")
        odd = folder / "odd"
        if kind == "symlink":
            (tmp_path / kind).mkdir()
            odd.symlink_to(_secret(tmp_path / kind))
        elif kind == "fifo":
            os.mkfifo(odd)
        else:
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(odd))
            s.close()
        done: list[BaseException] = []
        t = threading.Thread(target=_catch, args=(done, folder, tmp_path / f"stage-{kind}"),
                             daemon=True)
        t.start()
        t.join(10)
        assert not t.is_alive(), f"publishing a folder with a {kind} blocked"
        assert len(done) == 1 and isinstance(done[0], CreateError), done
        assert f"{odd}: a" in str(done[0]) and "regular files only" in str(done[0])


def _catch(out: list[BaseException], folder: Path, dest: Path) -> None:
    try:
        snapshot(folder, encode_chain([]), dest)
    except BaseException as exc:
        out.append(exc)


def test_a_file_swapped_for_a_symlink_after_the_listing_is_refused(tmp_path: Path) -> None:
    """The timing of the race is forced through the copy's hook: when ``a.html`` is
    opened, ``b.html`` (already listed as a regular file) becomes a symlink to the secret."""
    secret = _secret(tmp_path)
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.html").write_bytes(b"a")
    (folder / "b.html").write_bytes(b"b")

    def swap(path: Path) -> None:
        if path.name == "a.html":
            (folder / "b.lnk").symlink_to(secret)
            os.replace(folder / "b.lnk", folder / "b.html")

    with pytest.raises(CreateError, match=r"b\.html: a symlink"):
        snapshot(folder, encode_chain([]), tmp_path / "stage", opened=swap)
    assert SECRET not in _staged(tmp_path / "stage")


def test_what_is_copied_is_what_the_one_descriptor_reads(tmp_path: Path) -> None:
    """``page.html`` is swapped for a symlink to the secret right after it was opened
    and checked: the snapshot holds the bytes of the file that was opened, never the
    secret (no second open by path)."""
    secret = _secret(tmp_path)
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "page.html").write_bytes(b"public page\n")

    def swap(path: Path) -> None:
        (folder / "page.lnk").symlink_to(secret)
        os.replace(folder / "page.lnk", folder / "page.html")

    built = snapshot(folder, encode_chain([]), tmp_path / "stage", opened=swap)
    assert (tmp_path / "stage" / "site" / "page.html").read_bytes() == b"public page\n"
    assert [f.size for f in built.files if f.path == ("page.html",)] == [12]
    assert SECRET not in _staged(tmp_path / "stage")


ATTACKER = r"""
import os, sys, time
folder, scratch, secret, stop = sys.argv[1:5]
name = os.path.join(folder, "zz.html")
lnk, reg = os.path.join(scratch, "l"), os.path.join(scratch, "r")
end = time.monotonic() + 60
n = 0
while time.monotonic() < end and not os.path.exists(stop):
    os.symlink(secret, lnk)
    os.rename(lnk, name)
    with open(reg, "wb") as f:
        f.write(b"public\n")
    os.rename(reg, name)
    n += 1
print(n)
"""


def test_another_local_user_racing_symlinks_never_gets_the_secret_in() -> None:
    """A real second Unix user owns the site folder and swaps ``zz.html`` between a
    regular file and a symlink to a file only the publisher (root) can read, as fast as
    it can, while the publisher stages the folder again and again."""
    with other_user() as user, open_folder() as base:
        secret = _secret(base)
        folder, scratch, ctl = base / "src", base / "scratch", base / "ctl"
        for d in (folder, scratch, ctl):
            d.mkdir()
            shutil.chown(d, user)
        for i in range(300):  # listed and copied before zz.html: a wide window
            (folder / f"a{i:03}.html").write_bytes(os.urandom(4096))
        stop = ctl / "stop"
        attacker = subprocess.Popen(
            ["runuser", "-u", user, "--", SYSTEM_PYTHON, "-c", ATTACKER, str(folder),
             str(scratch), str(secret), str(stop)], stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while not (folder / "zz.html").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            copied = refused = leaked = 0
            dest = base / "stage"
            dest.mkdir(mode=0o700)
            end = time.monotonic() + 15
            attempts = 0
            while attempts < 80 and time.monotonic() < end:
                attempts += 1
                try:
                    stage(folder, b"", dest)
                except CreateError as exc:
                    assert "zz.html: a symlink" in str(exc), exc
                    refused += 1
                    continue
                copied += 1
                got = (dest / "site" / "zz.html").read_bytes()
                leaked += SECRET[:20] in got or SECRET[:20] in _staged(dest)
        finally:
            stop.touch()
            try:
                out, _ = attacker.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                attacker.kill()
                out, _ = attacker.communicate(timeout=5)
        swaps = int(out.strip() or 0)
        print(f"attempts={attempts} copied={copied} refused={refused} leaked={leaked} "
              f"attacker swaps={swaps}")
        assert swaps > 100, "the attacker did not run"
        assert leaked == 0, f"the secret reached {leaked} of {copied} staged snapshots"
        assert copied + refused == attempts
