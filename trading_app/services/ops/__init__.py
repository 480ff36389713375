"""Ops: what operators watch. `health` reports the readiness of the parts the app depends on."""
