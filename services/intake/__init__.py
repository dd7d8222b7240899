"""Intake: where complaints, compliments and comments arrive, on every channel, and leave as
`FeedbackSubmitted`."""
