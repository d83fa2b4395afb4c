"""tidegate: a terminal BitTorrent client and distributed site-hosting engine.

The one import package the distribution installs. Its subpackages are the repository's
top-level folders (``tidegate.engine`` is ``engine/``, ``tidegate.cli`` is ``cli/``,
``tidegate.tui`` is ``tui/``; in a checkout they are symbolic links in ``tidegate/``).
Importing ``tidegate`` itself imports nothing else: no libtorrent, no Textual, no ZeroMQ.
"""

__version__ = "0.1.0"
