"""The case lifecycle as pure functions: no clock, no database, no logging."""
