"""Intake's pure rules."""
