"""Site chains (pure) and sites between real engines on a private DHT."""
