"""The engine API: codec, server, client replica, daemon, bus, command declarations."""
