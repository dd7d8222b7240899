"""Casework: the system of record for each complaint, as an event-sourced `Case`."""
