"""The benchmark's own pure parts: the synthetic log it replays and how it reads latencies."""

from __future__ import annotations

from collections import Counter

from contracts.serialisation import decode_event
from redress.bench.load import percentiles
from redress.bench.replay import synthetic_log
from redress.bench.report import Figure, at_least, at_most, ratio


def test_the_synthetic_log_is_valid_events_with_fresh_ids_for_every_case() -> None:
    log = list(synthetic_log(500))
    assert len(log) == 500
    events = [decode_event(value) for _, value in log]
    ids = Counter(env.event_id for env, _ in events)
    assert max(ids.values()) == 1  # every copy has its own event ids
    opened = [p for _, p in events if p.event_type == "CaseOpened"]
    assert len({p.case_id for p in opened}) == len(opened) > 30
    assert len({p.reference for p in opened}) == len(opened)  # type: ignore[attr-defined]
    # each case's events keep the case's one id and their order within the stream
    for env, payload in events:
        case_id = getattr(payload, "case_id", None)
        if case_id is not None:
            assert env.stream_id == f"case-{case_id}"
    kinds = Counter(p.event_type for _, p in events)
    for needed in ("FeedbackSubmitted", "DeadlineSet", "ResponseIssued", "NotificationSent"):
        assert kinds[needed] > 0
    assert all(topic == type(p).topic for (topic, _), (_, p) in zip(log, events, strict=True))


def test_the_same_size_gives_the_same_shape() -> None:
    first = [decode_event(v)[0].event_type for _, v in synthetic_log(120)]
    again = [decode_event(v)[0].event_type for _, v in synthetic_log(120)]
    assert first == again


def test_percentiles_pick_the_value_below_which_that_share_falls() -> None:
    values = [float(i) for i in range(1, 101)]
    p = percentiles(values)
    assert (p["p50"], p["p95"], p["p99"], p["n"]) == (51.0, 96.0, 100.0, 100)
    assert percentiles([])["p99"] is None


def test_targets_and_ratios() -> None:
    assert at_least(800.0, 800) is True and at_least(799.0, 800) is False
    assert at_most(0.4, 0.5) is True and at_most(None, 0.5) is None
    assert ratio(50.0, 200.0) == 0.25 and ratio(1.0, 0.0) is None
    assert Figure("s", "n", 1.0, "u", passed=False).verdict == "MISS"
    assert Figure("s", "n", 1.0, "u").verdict == ""
