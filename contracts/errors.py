"""Errors raised when bytes or payloads do not match a contract.

Consumers treat these as poison: retrying cannot help, so the message goes to the dead-letter
topic with the error text.
"""


class ContractError(ValueError):
    """The message is not a valid Redress event (bad JSON, missing field, wrong type)."""


class UnknownEventType(ContractError):
    """The envelope names an event type, or a schema version, that this build does not know."""
