"""Automation that runs beside the engine without anyone there, seeing it only through
:class:`engine.services.TorrentService`: RSS (:mod:`.rss_service`), watch folders
(:mod:`.watch`) and event hooks (:mod:`.hooks`). docs/automation.md."""
