"""Thin HTTP routes mounted on Reflex's Starlette backend."""
