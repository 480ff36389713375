"""Intake: a TradingView alert from the door to the durable inbox.

The webhook's service side: decode and mask the body (`domain.alert_body`, and `domain.masking`,
the one home of the masking rule), authenticate and validate it, check the market on the
trader's own network (`market_check`), store it exactly once (`signal_store` over `signal_sql`,
batched by `group_commit`), then hand it to the engine (`dispatch`). The settings page's alert
tools (template builder, test alert) live here too, because they post through the same door.
"""
