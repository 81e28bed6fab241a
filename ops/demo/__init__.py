"""Demo data that looks like a real city, loaded through the gateway's public API."""
