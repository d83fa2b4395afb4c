"""The Smart Proxy, with real browsers and hostile clients."""
