"""The ``tidegate`` command. It reaches the engine only through its public API."""
