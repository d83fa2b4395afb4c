"""Automation that runs beside the engine without anyone there (docs/automation.md)."""
