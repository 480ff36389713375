"""Venue adapters behind one interface (`trading_app.venues.base.Venue`)."""
