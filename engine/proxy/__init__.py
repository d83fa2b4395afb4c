"""The Smart Proxy: serves hosted sites to a browser, verified against their chains, and
streams any torrent's files while they download (docs/proxy.md)."""
