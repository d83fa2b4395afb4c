"""Everything that touches libtorrent. Only the Engine thread calls into here."""
