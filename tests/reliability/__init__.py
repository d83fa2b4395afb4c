"""Reliability suites: the engine killed, starved of disk, or cut off, and what it keeps."""
