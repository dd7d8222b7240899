"""Notifications: letters and messages to residents, services and managers, each sent once."""
