"""Deployment: the development launcher (devrun) and production manifests."""
