"""Engine: one accepted signal becomes a protected position, or a closed one, exactly once.

`executor` claims a signal and routes it; `open_close` opens (entry, then stop-loss and
take-profit sized to the fill) and closes positions; `protection` places the stop-loss and
take-profit, flattens a position it cannot protect and closes the books; `entry_order` follows
the entry until the venue says how it ended; `order_flow` is the persist-first, same-client-id
way every order is sent and kept in step with the venue; `trader` names who trades where and
changes positions along their lifecycle; `manual` is what the dashboard and REST ask by hand.
"""
