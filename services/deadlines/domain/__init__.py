"""Working-day arithmetic and timescale rules as pure functions."""
