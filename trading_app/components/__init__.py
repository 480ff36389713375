"""Reusable UI pieces of the signed-in pages: layout and navigation, tables, charts, badges."""
