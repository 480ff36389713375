"""SQLModel tables and tenant-scoped queries."""
