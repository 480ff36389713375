"""One module per page; pages call services only."""
