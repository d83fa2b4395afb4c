"""Automation that runs beside the engine and sees it only through
:class:`engine.services.TorrentService`: watch folders (:mod:`.watch`) and event hooks
(:mod:`.hooks`). docs/automation.md."""
