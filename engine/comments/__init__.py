"""Comments on any URL (docs/comments.md): a comment is a Nostr NIP-22 event (kind 1111)
plus tidegate's ed25519 attestation, kept in a SQLite store and served over HTTP.

``urls``, ``event`` and ``pow`` are sans-IO (no sockets, threads or clock: ``now`` is
passed in); ``author`` reads and writes the author key, ``store`` the database,
``service``/``app`` run the endpoint.
"""
