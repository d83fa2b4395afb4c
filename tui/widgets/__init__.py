"""Widgets of the TUI, each drawing values it is given (attributes down, messages up)."""
