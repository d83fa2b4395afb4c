"""Screens of the TUI: the list, details, dialogs, help and sites."""
