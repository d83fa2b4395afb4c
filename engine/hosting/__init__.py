"""The Hosting Component: downloads, verifies and seeds the snapshots of sites."""
