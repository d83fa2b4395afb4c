"""A WebM video (VP8) that Chromium plays and seeks, made with PyAV's bundled FFmpeg.

Random frames, so the file is large for its length (about 0.5 MB a second at 320x240)
and a second of video is a known share of the file: a seek to 80 % of the duration asks
for bytes about 80 % into it. A keyframe every second, and the Cues (the seek index) at
the front (``cues_to_front``), so the browser needs no bytes from the file's end to seek.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FPS = 25


def make_webm(path: Path, seconds: int, width: int = 320, height: int = 240) -> Path:
    try:
        import av
    except ImportError:
        pytest.fail("PyAV is missing: `pip install av` (in the test extras of pyproject.toml); "
                    "the video tests need it", pytrace=False)
    out = av.open(str(path), "w", format="webm", options={"cues_to_front": "1"})
    try:
        stream = out.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 4_000_000
        stream.gop_size = FPS
        stream.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        for i in range(seconds * FPS):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    finally:
        out.close()
    return path


def cues_before_clusters(data: bytes) -> bool:
    """The Cues element comes before the first Cluster (EBML ids 0x1C53BB6B, 0x1F43B675)."""
    cues, cluster = data.find(b"\x1c\x53\xbb\x6b"), data.find(b"\x1f\x43\xb6\x75")
    return 0 <= cues < cluster
