"""How the supervisor lays out several replicas of each service before starting anything: the
first keeps the service's port, the others get their own, and each has its own name for logs
and the listening table."""

from __future__ import annotations

from pathlib import Path

import pytest

from redress.embedded.supervisor import Supervisor
from redress.settings import SERVICES, RuntimeSettings, service_port


def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path)


def test_one_replica_each_is_what_redress_up_always_ran(tmp_path: Path) -> None:
    supervisor = Supervisor(settings(tmp_path))
    assert [(s.name, s.port, s.label) for s in supervisor.services] == [
        (name, service_port(name), name) for name in SERVICES
    ]


def test_two_replicas_each_get_distinct_ports_and_names(tmp_path: Path) -> None:
    supervisor = Supervisor(settings(tmp_path), services=["casework", "reporting"], replicas=2)
    assert [s.label for s in supervisor.services] == [
        "casework",
        "casework-2",
        "reporting",
        "reporting-2",
    ]
    ports = [s.port for s in supervisor.services]
    assert len(set(ports)) == 4
    first, second = supervisor.replicas_of("casework")
    assert first.port == service_port("casework") and second.replica == 2
    assert supervisor.urls("reporting") == [
        f"http://127.0.0.1:{s.port}" for s in supervisor.replicas_of("reporting")
    ]
    assert [row[0] for row in supervisor.listening()][:4] == [
        "casework",
        "casework-2",
        "reporting",
        "reporting-2",
    ]


def test_no_replicas_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Supervisor(settings(tmp_path), replicas=0)


def test_embedded_topics_get_one_partition_per_replica_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDRESS_TOPIC_PARTITIONS", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert Supervisor(settings(tmp_path)).partitions == 1
    two = Supervisor(settings(tmp_path), replicas=2)
    assert two.partitions == 2
    assert two._env(two.services[0])["REDRESS_TOPIC_PARTITIONS"] == "2"
    # asked for: kept, whatever the replicas
    monkeypatch.setenv("REDRESS_TOPIC_PARTITIONS", "5")
    assert Supervisor(settings(tmp_path)).partitions == 5
    assert Supervisor(RuntimeSettings(data_dir=tmp_path, topic_partitions=4)).partitions == 4


def test_a_real_cluster_gets_the_partitions_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDRESS_TOPIC_PARTITIONS", raising=False)
    real = RuntimeSettings(data_dir=tmp_path, kafka_bootstrap_servers="kafka-1:9092")
    assert Supervisor(real).partitions == real.topic_partitions == 3
