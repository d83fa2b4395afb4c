"""The Textual TUI: pilot tests on real engines, snapshots, a real terminal."""
