"""One module per command; each exposes ``register(subparsers)`` and ``run(args) -> int``."""
