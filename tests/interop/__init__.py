"""With programs nobody here wrote: opentracker, Transmission, aria2, qBittorrent."""
