"""Deadlines: every due date, computed on the right working days, durable across restarts."""
