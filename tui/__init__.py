"""The Textual TUI (next issue). It will reach the engine only through its API."""
