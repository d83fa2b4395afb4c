"""The torrent engine on real libtorrent sessions on 127.0.0.1."""
