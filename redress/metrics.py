"""Prometheus metrics every service exposes on ``/metrics``. One process per service, so the
default registry is that service's; the ``service`` label lets one Prometheus tell them apart
when replicas share a job."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "redress_events_consumed_total",
    "Events taken off a topic, by what happened to them",
    ["service", "topic", "event_type", "result"],
)
EVENT_HANDLING_SECONDS = Histogram(
    "redress_event_handling_seconds",
    "Time to apply one event, transaction included (in a batch: its handler and its share of the "
    "rest of the transaction)",
    ["service", "event_type"],
)
EVENTS_APPENDED = Counter(
    "redress_events_appended_total", "Events written to the event store", ["service", "event_type"]
)
OUTBOX_PUBLISHED = Counter(
    "redress_outbox_published_total", "Outbox rows published to the broker", ["service", "topic"]
)
OUTBOX_BACKLOG = Gauge(
    "redress_outbox_backlog", "Outbox rows not yet published to the current broker", ["service"]
)
OUTBOX_REPUBLISHES = Counter(
    "redress_outbox_broker_changes_total",
    "Times the relay saw a different broker cluster and re-published its outbox",
    ["service"],
)
DEAD_LETTERED = Counter(
    "redress_dead_lettered_total", "Messages sent to a dead-letter topic", ["service", "topic"]
)
HTTP_REQUESTS = Counter(
    "redress_http_requests_total",
    "HTTP requests answered",
    ["service", "method", "route", "status"],
)
CONSUMER_LAG = Gauge(
    "redress_consumer_lag",
    "Messages on a partition not yet processed by this service's consumer group",
    ["service", "topic", "partition"],
)
ASSIGNED_PARTITIONS = Gauge(
    "redress_consumer_assigned_partitions",
    "Partitions of a topic this replica consumes now; replicas of a service share them, and when "
    "one dies the others take its partitions over",
    ["service", "topic"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "redress_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none waits)",
    ["service"],
)
TIMERS_FIRED = Counter(
    "redress_deadline_timers_fired_total",
    "Deadline reminders (approaching) and breaches (missed) fired",
    ["timer", "kind"],
)
NOTIFICATIONS = Counter(
    "redress_notifications_total",
    "Notification deliveries, by channel and outcome (sent, retry, failed)",
    ["channel", "outcome"],
)
