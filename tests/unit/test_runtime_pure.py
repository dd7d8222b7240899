from pathlib import Path

import pytest

from redress.db import RUNTIME_MIGRATIONS, check_schema_name, read_migrations
from redress.kafka import topics_for
from redress.settings import RuntimeSettings, embedded_dsn, service_port


def test_unset_connection_variables_mean_the_embedded_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("REDRESS_PG_PORT", "25432")
    s = RuntimeSettings()
    assert s.uses_embedded_postgres and s.uses_embedded_kafka
    assert s.dsn == embedded_dsn(25432)
    assert s.bootstrap_servers == "127.0.0.1:19092"


def test_a_real_cluster_is_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.internal/redress")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    s = RuntimeSettings()
    assert s.dsn == "postgresql://u@db.internal/redress"
    assert s.bootstrap_servers == "k1:9092,k2:9092"
    assert not s.uses_embedded_postgres


def test_service_ports_are_fixed_unless_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INTAKE", "REPORTING"):
        monkeypatch.delenv(f"REDRESS_{name}_PORT", raising=False)
    assert service_port("intake") == 8001
    assert service_port("reporting") == 8005
    monkeypatch.setenv("REDRESS_REPORTING_PORT", "9005")
    assert service_port("reporting") == 9005


def test_runtime_migrations_are_numbered() -> None:
    found = read_migrations("runtime", RUNTIME_MIGRATIONS)
    assert [m.version for m in found] == sorted(m.version for m in found)
    assert found[0].name == "event_log"


def test_misnamed_migration_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "001_ok.sql").write_text("SELECT 1")
    (tmp_path / "2-bad.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="NNN_name"):
        read_migrations("x", tmp_path)


def test_duplicate_migration_numbers_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1")
    (tmp_path / "001_b.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="duplicate"):
        read_migrations("x", tmp_path)


@pytest.mark.parametrize("bad", ["Intake", "1abc", "a-b", "x; DROP", ""])
def test_schema_names_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        check_schema_name(bad)


def test_dead_letter_topics_follow_subscriptions() -> None:
    names = topics_for({"casework": ["redress.intake.v1"]})
    assert "redress.intake.v1.dlq.casework" in names
    assert "redress.case.v1" in names
