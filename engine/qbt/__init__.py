"""A qBittorrent Web API v2 endpoint (docs/qbittorrent-api.md), for the programs that
drive qBittorrent: Sonarr, Radarr, cross-seed and the like.

``service`` runs the server thread, ``app`` the HTTP face and its checks (``guard``),
``auth`` the password, sessions and bans, ``reads`` and ``writes`` the endpoints,
``mapping`` tidegate's values in qBittorrent's shapes and ``sync`` the ``sync/maindata``
deltas. Importing this package imports nothing else.
"""
