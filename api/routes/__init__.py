"""Routers, one per resource or audience."""
