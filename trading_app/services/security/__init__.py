"""Security: secrets sealed at rest and limits on what one address may ask.

`crypto` is AES-256-GCM field encryption bound to row and column; `secrets` seals and opens the
encrypted columns and rotates keys; `ratelimit` holds the fixed-window limits shared by every
worker (Redis) or kept in-process.
"""
