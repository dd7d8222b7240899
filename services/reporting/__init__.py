"""Reporting: read models over every topic, rebuilt from the log whenever needed."""
