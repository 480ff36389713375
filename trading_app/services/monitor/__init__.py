"""Monitor: every account with live positions reconciled with its venue, by one worker at a time.

`tick` runs a worker's full tick and the fast trigger watch; `leases` decides which worker owns
which account (heartbeats, a fair share, leases); `books` reads our positions and orders for a
tick; `order_sync` brings our order rows in step with the venue's batched read and cancels
strays; `reconcile` decides, per position, what to do (close the books, re-protect, flatten);
`trigger_watch` spots crossed take-profit and stop-loss triggers between ticks; `report` says
what a tick did.
"""
