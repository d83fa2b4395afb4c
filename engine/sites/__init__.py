"""Sites: deterministic snapshots of a site's folder, and (later) publishing and following."""
