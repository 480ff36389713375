"""Auth: signing in with an Ethereum wallet and the sessions that follow.

`siwe` builds and verifies EIP-4361 messages; `login` issues a nonce, checks the signature and
opens a session; `sessions` keeps server-side sessions (only a hash of the browser's token is
stored).
"""
