"""Orchestration: the only layer that combines the database, venues and notifiers."""
