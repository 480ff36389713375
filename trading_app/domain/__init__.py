"""Pure trading logic: no I/O, no framework imports, money in Decimal."""
