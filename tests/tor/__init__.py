"""Tor and onion services, with a real tor."""
