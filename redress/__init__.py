"""The shared runtime every Redress service is built on: settings, logging, metrics, database
and migrations, event store, transactional outbox and its relay, idempotent consumers with
dead-lettering, and the embedded stack. Written once here, never copied per service."""
