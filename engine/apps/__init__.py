"""The program API's client: what an app on a site uses (docs/program-api.md).

:class:`~.client.AppClient` connects to the running daemon (or wraps any engine) and
watches sites, reads their verified files as streams, writes an owned site's files and
publishes them, and serves HTTP paths of an owned site from the program
(:mod:`.serve`). It sits above the daemon in the layers: it finds the daemon the way the
CLI does, and nothing in the engine imports it.
"""
