"""Shared helpers: daemons, hostile peers and trackers, namespaces, tor networks, terminals."""
