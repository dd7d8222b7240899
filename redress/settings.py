"""Configuration from environment variables.

``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` unset mean the embedded defaults: the broker
and PostgreSQL that ``redress up`` starts on loopback. Set them to point the same code at a real
cluster.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Every service, its default HTTP port and its ASGI app. The supervisor starts them by module
#: path so that the runtime never imports a service.
SERVICES: dict[str, tuple[int, str]] = {
    "intake": (8001, "services.intake.app:app"),
    "casework": (8002, "services.casework.app:app"),
    "deadlines": (8003, "services.deadlines.app:app"),
    "notifications": (8004, "services.notifications.app:app"),
    "reporting": (8005, "services.reporting.app:app"),
}


def default_data_dir() -> Path:
    """Where the embedded stack keeps PostgreSQL's files.

    As root, embedded PostgreSQL runs as its own system user, which must be able to traverse
    every parent of the data directory; a directory inside root's home would force us to open
    that home up. So root gets a folder whose parents are already traversable.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/redress")
    return Path.cwd() / ".redress"


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str | None = Field(None, validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="REDRESS_DATA_DIR")
    embedded_pg_port: int = Field(15432, validation_alias="REDRESS_PG_PORT")
    embedded_kafka_port: int = Field(19092, validation_alias="REDRESS_KAFKA_PORT")
    smtp_host: str | None = Field(None, validation_alias="REDRESS_SMTP_HOST")
    smtp_port: int = Field(2525, validation_alias="REDRESS_SMTP_PORT")
    #: intake's shared complaints mailbox (incoming SMTP); the outgoing sink above has 2525
    mailbox_host: str = Field("127.0.0.1", validation_alias="REDRESS_MAILBOX_HOST")
    mailbox_port: int = Field(2526, ge=0, le=65535, validation_alias="REDRESS_MAILBOX_PORT")
    topic_partitions: int = Field(3, ge=1, validation_alias="REDRESS_TOPIC_PARTITIONS")
    topic_replication: int = Field(1, ge=1, validation_alias="REDRESS_TOPIC_REPLICATION")
    http_host: str = Field("127.0.0.1", validation_alias="REDRESS_HTTP_HOST")
    log_level: str = Field("INFO", validation_alias="REDRESS_LOG_LEVEL")
    db_pool_max: int = Field(10, ge=2, validation_alias="REDRESS_DB_POOL_MAX")
    handler_attempts: int = Field(3, ge=1, validation_alias="REDRESS_HANDLER_ATTEMPTS")
    #: the most events a live consumer applies in one transaction (whatever one poll brought,
    #: up to this); 1 is one transaction per event
    consumer_batch_max: int = Field(
        200, ge=1, le=10_000, validation_alias="REDRESS_CONSUMER_BATCH_MAX"
    )
    #: how long an idle consumer's poll waits for records before it polls again; records that
    #: arrive end the wait at once, so this bounds only the extra delay after a quiet spell
    consumer_batch_wait_ms: int = Field(
        20, ge=1, le=1000, validation_alias="REDRESS_CONSUMER_BATCH_WAIT_MS"
    )
    #: how long the broker may hold a consumer's fetch when nothing is there: a broker that
    #: answers only at the end of it (the embedded one does) delays each new event by up to
    #: this much per hop; each idle fetch costs the broker a little CPU
    consumer_fetch_wait_ms: int = Field(
        100, ge=1, le=5000, validation_alias="REDRESS_CONSUMER_FETCH_WAIT_MS"
    )

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.embedded_kafka_port}"

    @property
    def dsn(self) -> str:
        return self.database_url or embedded_dsn(self.embedded_pg_port)

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def uses_embedded_smtp(self) -> bool:
        return self.smtp_host is None

    @property
    def uses_embedded_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None


def embedded_dsn(port: int) -> str:
    return f"postgresql://redress@127.0.0.1:{port}/redress"


def service_port(name: str) -> int:
    """``REDRESS_<NAME>_PORT`` or the fixed default from `SERVICES`."""
    default, _ = SERVICES[name]
    return int(os.environ.get(f"REDRESS_{name.upper()}_PORT", default))


def temp_root() -> Path:
    return Path(tempfile.gettempdir())
