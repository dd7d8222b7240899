"""Reporting's read models: each handler folds one event into the facts tables. Every write is
an upsert keyed by what the event is about, so events from different topics may arrive in any
order and a replay from the log builds the same tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts import (
    CaseOpened,
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineKind,
    DeadlineMet,
    DeadlineMissed,
    DeadlineSet,
    Envelope,
    EventPayload,
    FeedbackSubmitted,
    NotificationSent,
)
from contracts import case_events as ev
from redress.clock import london_today
from redress.consumer import EventContext
from redress.db import Connection

_CLOSING = {
    "CaseClosed": "responded",
    "CaseWithdrawn": "withdrawn",
    "CaseNotAccepted": "not_accepted",
    "CaseRedirected": "redirected",
    "CaseReclassifiedAsServiceRequest": "service_request",
    "FeedbackPassedToService": "passed_to_service",
}


def district(postcode: str | None) -> str | None:
    return postcode.split(" ")[0] if postcode else None


# -- what an event writes ------------------------------------------------------------------------
#
# Each event is turned into a list of writes (pure, no I/O). Applied one event at a time they are
# the upserts below; a replay folds a whole batch of them in memory and writes each table with a
# few set-based statements (`apply_batch`). Both paths start from the same writes, so a rebuilt
# read model equals the live one.


@dataclass(frozen=True)
class Upsert:
    """Set these columns of the row with this key, making the row if it is new."""

    table: str
    key: tuple[Any, ...]
    columns: dict[str, Any]


@dataclass(frozen=True)
class InsertNew:
    """Make the row unless one with its key exists: the first event about it wins."""

    table: str
    key: tuple[Any, ...]
    columns: dict[str, Any]


@dataclass(frozen=True)
class UpdateExisting:
    """Set these columns of the row with this key if there is one; nothing otherwise."""

    table: str
    key: tuple[Any, ...]
    columns: dict[str, Any]


@dataclass(frozen=True)
class NotificationCounted:
    """One more notification sent for the case; ``acknowledged_at`` (a receipt or the formal
    acknowledgement) keeps the earliest such time on the case."""

    case_id: Any
    acknowledged_at: datetime | None


@dataclass(frozen=True)
class Statement:
    """A write whose rows depend on their own state (an Ombudsman decision fills the case's
    open enquiry): applied as it is, one by one in log order, in both paths. Its table is
    written by nothing else, so its order against the folded writes does not matter."""

    table: str
    sql: str
    args: tuple[Any, ...]


Write = Upsert | InsertNew | UpdateExisting | NotificationCounted | Statement

#: each table's key, in the order of its primary key
KEYS: dict[str, tuple[str, ...]] = {
    "case_facts": ("case_id",),
    "stage_facts": ("case_id", "stage"),
    "submission_facts": ("submission_id",),
    "remedy_facts": ("case_id", "remedy_id"),
    "learning_facts": ("case_id", "action_id"),
}


def _case(case_id: Any, **columns: Any) -> Upsert:
    return Upsert("case_facts", (case_id,), columns)


def _stage(case_id: Any, stage: int, **columns: Any) -> Upsert:
    return Upsert("stage_facts", (case_id, stage), columns)


def writes(envelope: Envelope, payload: EventPayload) -> list[Write]:
    """What one event does to the read models."""
    match payload:
        case FeedbackSubmitted():
            return _submission_writes(payload)
        case NotificationSent():
            return _notification_writes(payload)
        case (
            DeadlineSet()
            | DeadlineChanged()
            | DeadlineMet()
            | DeadlineMissed()
            | (DeadlineCancelled())
        ):
            return _deadline_writes(payload)
        case _:
            return _case_writes(envelope, payload)


def _submission_writes(p: FeedbackSubmitted) -> list[Write]:
    return [
        InsertNew(
            "submission_facts",
            (p.submission_id,),
            {
                "kind": p.kind.value,
                "channel": p.channel.value,
                "organisation_id": p.organisation_id,
                "received_at": p.received_at,
            },
        )
    ]


def _case_writes(envelope: Envelope, e: EventPayload) -> list[Write]:
    today = london_today(envelope.occurred_at)
    match e:
        case CaseOpened():
            return [
                _case(
                    e.case_id,
                    reference=e.reference,
                    kind=e.kind.value,
                    channel=e.channel.value,
                    organisation_id=e.organisation_id,
                    procedure=e.procedure.value,
                    received_at=e.received_at,
                    received_on=london_today(e.received_at),
                    opened_at=envelope.occurred_at,
                    service_area=e.service_area,
                    # the clear district; an erased complainant's postcode opens as None
                    postcode_district=e.postcode_district or district(e.complainant.postcode),
                ),
                _stage(e.case_id, 1, started_on=london_today(e.received_at)),
            ]
        case ev.CaseTriaged():
            location = e.location
            columns: dict[str, Any] = {
                "kind": e.kind.value,
                "procedure": e.procedure.value,
                "service_area": e.service_area,
                "category": e.category,
            }
            if location is not None:
                columns["ward"] = location.ward
                found = e.postcode_district or district(location.postcode)
                if found:
                    columns["postcode_district"] = found
            return [_case(e.case_id, **columns)]
        case ev.CaseAcknowledged():
            return [_stage(e.case_id, e.stage, acknowledged_on=e.acknowledged_on)]
        case ev.ResponseIssued():
            return [_stage(e.case_id, e.stage, responded_on=e.issued_on, overall=e.overall.value)]
        case ev.CaseEscalated():
            return [
                _case(e.case_id, stage=e.to_stage),
                _stage(e.case_id, e.to_stage, started_on=e.requested_on),
            ]
        case ev.RemedyRecorded():
            return [
                InsertNew(
                    "remedy_facts",
                    (e.case_id, e.remedy_id),
                    {"remedy_type": e.remedy_type.value, "amount": e.amount, "recorded_on": today},
                )
            ]
        case ev.RedressApproved():
            return [UpdateExisting("remedy_facts", (e.case_id, e.remedy_id), {"approved": True})]
        case ev.RedressPaid():
            return [
                UpdateExisting("remedy_facts", (e.case_id, e.remedy_id), {"paid_on": e.paid_on})
            ]
        case ev.RemedyCompleted():
            return [
                UpdateExisting(
                    "remedy_facts", (e.case_id, e.remedy_id), {"completed_on": e.completed_on}
                )
            ]
        case ev.LearningActionAdded():
            return [
                InsertNew(
                    "learning_facts",
                    (e.case_id, e.action_id),
                    {"description": e.description, "owner": e.owner, "due_on": e.due_on},
                )
            ]
        case ev.LearningActionCompleted():
            return [
                UpdateExisting(
                    "learning_facts", (e.case_id, e.action_id), {"completed_on": e.completed_on}
                )
            ]
        case ev.OmbudsmanEnquiryReceived():
            return [
                Statement(
                    "ombudsman_facts",
                    """INSERT INTO ombudsman_facts (case_id, reference, body, stage, received_on)
                       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, reference) DO NOTHING""",
                    (
                        e.case_id,
                        e.ombudsman_reference,
                        e.body.value,
                        e.stage.value,
                        e.received_on,
                    ),
                )
            ]
        case ev.OmbudsmanDecisionRecorded():
            return [
                Statement(
                    "ombudsman_facts",
                    """UPDATE ombudsman_facts SET decided_on = $2, finding = $3,
                           compliance_due_on = $4
                       WHERE case_id = $1 AND decided_on IS NULL""",
                    (e.case_id, e.decided_on, e.finding.value, e.compliance_due_on),
                )
            ]
        case ev.OmbudsmanComplianceCompleted():
            return [
                Statement(
                    "ombudsman_facts",
                    "UPDATE ombudsman_facts SET complied_on = $2 "
                    "WHERE case_id = $1 AND decided_on IS NOT NULL AND complied_on IS NULL",
                    (e.case_id, e.completed_on),
                )
            ]
        case ev.CaseNotAccepted():
            return [
                _case(
                    e.case_id,
                    resolution="not_accepted",
                    closed_on=today,
                    not_accepted_reason=e.reason.value,
                )
            ]
        case ev.CaseReopened():
            return [_case(e.case_id, resolution=None, closed_on=None)]
        case _ if e.event_type in _CLOSING:
            case_id = getattr(e, "case_id")  # noqa: B009 - every closing event has one
            return [_case(case_id, resolution=_CLOSING[e.event_type], closed_on=today)]
    return []


def _deadline_writes(
    e: DeadlineSet | DeadlineChanged | DeadlineMet | DeadlineMissed | DeadlineCancelled,
) -> list[Write]:
    if e.kind not in (DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RESPONSE):
        return []
    prefix = "acknowledgement" if e.kind is DeadlineKind.ACKNOWLEDGEMENT else "response"
    due, state = f"{prefix}_due", f"{prefix}_state"
    match e:
        case DeadlineSet():
            out: list[Write] = [_stage(e.case_id, e.stage, **{due: e.due_on, state: "pending"})]
            if e.stage == 1:  # keep the case row's headline dates
                column = (
                    "acknowledgement_due_on" if prefix == "acknowledgement" else ("response_due_on")
                )
                out.append(_case(e.case_id, **{column: e.due_on}))
            return out
        case DeadlineChanged():
            return [_stage(e.case_id, e.stage, **{due: e.due_on})]
        case DeadlineMet():
            columns: dict[str, Any] = {state: "met_late" if e.late else "met"}
            if prefix == "response":
                columns.update(
                    working_days_taken=e.working_days_taken,
                    extension_days=e.extension_days,
                    paused_working_days=e.paused_working_days,
                )
            return [_stage(e.case_id, e.stage, **columns)]
        case DeadlineMissed():
            return [_stage(e.case_id, e.stage, **{state: "missed"})]
        case DeadlineCancelled():
            return [_stage(e.case_id, e.stage, **{state: "cancelled"})]
    return []


def _notification_writes(p: NotificationSent) -> list[Write]:
    # the receipt or the formal acknowledgement, whichever went first, acknowledges the resident;
    # "first" by when it was sent, not by when its event arrived, so that a replay agrees
    acknowledged = p.sent_at if p.template in ("receipt", "acknowledgement") else None
    return [NotificationCounted(p.case_id, acknowledged)]


# -- one event at a time (the live path) ---------------------------------------------------------


async def apply(conn: Connection, write: Write) -> None:
    match write:
        case Upsert(table, key, columns):
            keys = KEYS[table]
            names = [*keys, *columns]
            n = len(keys)
            await conn.execute(
                f"""INSERT INTO {table} ({", ".join(names)})
                    VALUES ({", ".join(f"${i}" for i in range(1, len(names) + 1))})
                    ON CONFLICT ({", ".join(keys)}) DO UPDATE SET
                    {", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=n + 1))}""",
                *key,
                *columns.values(),
            )
        case InsertNew(table, key, columns):
            keys = KEYS[table]
            names = [*keys, *columns]
            await conn.execute(
                f"""INSERT INTO {table} ({", ".join(names)})
                    VALUES ({", ".join(f"${i}" for i in range(1, len(names) + 1))})
                    ON CONFLICT ({", ".join(keys)}) DO NOTHING""",
                *key,
                *columns.values(),
            )
        case UpdateExisting(table, key, columns):
            keys = KEYS[table]
            n = len(keys)
            await conn.execute(
                f"""UPDATE {table}
                    SET {", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=n + 1))}
                    WHERE {" AND ".join(f"{k} = ${i}" for i, k in enumerate(keys, start=1))}""",
                *key,
                *columns.values(),
            )
        case NotificationCounted(case_id, acknowledged_at):
            await conn.execute(
                """INSERT INTO case_facts (case_id, acknowledgement_sent_at, notifications_sent)
                   VALUES ($1, $2, 1)
                   ON CONFLICT (case_id) DO UPDATE SET
                       acknowledgement_sent_at = least(case_facts.acknowledgement_sent_at, $2),
                       notifications_sent = case_facts.notifications_sent + 1""",
                case_id,
                acknowledged_at,
            )
        case Statement(_, sql, args):
            await conn.execute(sql, *args)


async def on_event(ctx: EventContext) -> None:
    for write in writes(ctx.envelope, ctx.payload):
        await apply(ctx.conn, write)


# the handlers each topic's subscription names: one function, the writes say what differs
on_feedback_submitted = on_case_event = on_deadline_event = on_notification_sent = on_event


# -- a batch at once (replays) -------------------------------------------------------------------


async def apply_batch(conn: Connection, contexts: Sequence[EventContext]) -> None:
    """The batch's events, in log order, folded into the rows they leave behind and written
    with a few statements per table: the same tables as `on_event` for each in turn."""
    batch = Fold()
    for ctx in contexts:
        for write in writes(ctx.envelope, ctx.payload):
            batch.add(write)
    await batch.write(conn)


_COUNTED = ("acknowledgement_sent_at", "notifications_sent")


@dataclass
class _TableFold:
    #: Upsert: the columns last set for each key
    upserts: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    #: NotificationCounted: per case, how many and the earliest acknowledgement
    counted: dict[tuple[Any, ...], tuple[int, datetime | None]] = field(default_factory=dict)
    #: InsertNew: the first row made for each key, then the updates that came after it
    inserted: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    after_insert: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    #: UpdateExisting: every update, for rows that were there before the batch
    updates: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)


class Fold:
    """Writes folded per table and key, as they would leave the rows if applied in order.

    - Upserts: each column ends with the last value set; a new row has its defaults elsewhere.
    - Notifications: counted, and the earliest acknowledgement kept (``least`` skips nulls).
    - Insert-if-new and update-if-there: a row already in the table before the batch takes
      every update and none of the inserts; a row made by the batch is the first insert with
      the updates that came after it (an update before it found nothing to change).
    A table is either upserted (and counted) or inserted and updated, never both: the fold
    refuses a mix, and the consumer then applies the batch one event at a time."""

    def __init__(self) -> None:
        self.tables: dict[str, _TableFold] = {}
        self.statements: list[Statement] = []

    def _table(self, name: str) -> _TableFold:
        return self.tables.setdefault(name, _TableFold())

    def add(self, write: Write) -> None:
        match write:
            case Upsert(table, key, columns):
                if set(columns) & set(_COUNTED) and table == "case_facts":
                    raise ValueError("an upsert of the counted columns cannot be folded")
                self._table(table).upserts.setdefault(key, {}).update(columns)
            case NotificationCounted(case_id, acknowledged_at):
                t = self._table("case_facts")
                count, earliest = t.counted.get((case_id,), (0, None))
                if acknowledged_at is not None and (earliest is None or acknowledged_at < earliest):
                    earliest = acknowledged_at
                t.counted[(case_id,)] = (count + 1, earliest)
            case InsertNew(table, key, columns):
                t = self._table(table)
                if key not in t.inserted:
                    t.inserted[key] = dict(columns)
            case UpdateExisting(table, key, columns):
                t = self._table(table)
                t.updates.setdefault(key, {}).update(columns)
                if key in t.inserted:
                    t.after_insert.setdefault(key, {}).update(columns)
            case Statement():
                self.statements.append(write)

    async def write(self, conn: Connection) -> None:
        folded = set(self.tables)
        if any(s.table in folded for s in self.statements):
            raise ValueError("a table written statement by statement is also folded")
        for statement in self.statements:
            await conn.execute(statement.sql, *statement.args)
        for name, t in self.tables.items():
            if (t.upserts or t.counted) and (t.inserted or t.updates):
                raise ValueError(f"{name}: upserts and inserts in one batch cannot be folded")
            types = await _column_types(conn, name)
            if t.upserts or t.counted:
                await _write_upserts(conn, name, types, t)
            else:
                await _write_inserts(conn, name, types, t)


_TYPES: dict[str, dict[str, str]] = {}


async def _column_types(conn: Connection, table: str) -> dict[str, str]:
    """Each column's SQL type, to cast the arrays a batch is sent in (asked once a process)."""
    types = _TYPES.get(table)
    if types is None:
        rows = await conn.fetch(
            """SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
               WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
               ORDER BY attnum""",
            table,
        )
        types = _TYPES[table] = {r["attname"]: r["type"] for r in rows}
    return types


def _arrays(names: Sequence[str], types: dict[str, str]) -> tuple[str, str]:
    """``unnest($1::t1[], $2::t2[], ...)`` and its column list ``(n1, n2, ...)``."""
    casts = ", ".join(f"${i}::{types[n]}[]" for i, n in enumerate(names, start=1))
    return f"unnest({casts})", f"({', '.join(names)})"


def _masked_update(
    table: str,
    types: dict[str, str],
    columns: Sequence[str],
    rows: dict[tuple[Any, ...], dict[str, Any]],
    extra: Sequence[tuple[str, str, list[Any]]] = (),
    extra_sets: Sequence[str] = (),
) -> tuple[str, list[list[Any]]]:
    """An UPDATE of many rows from arrays: per row and column a value and whether the batch
    set it (a column not set keeps its value). ``extra`` adds arrays (name, type, values) for
    ``extra_sets`` to use. Returns the SQL and its arguments."""
    keys = KEYS[table]
    names = [*keys, *columns, *(f"set_{c}" for c in columns), *(n for n, _, _ in extra)]
    all_types = {
        **types,
        **{f"set_{c}": "boolean" for c in columns},
        **{n: t for n, t, _ in extra},
    }
    source, labels = _arrays(names, all_types)
    sets = [f"{c} = CASE WHEN d.set_{c} THEN d.{c} ELSE t.{c} END" for c in columns]
    sql = f"""UPDATE {table} AS t SET {", ".join([*sets, *extra_sets])}
              FROM {source} AS d{labels}
              WHERE {" AND ".join(f"t.{k} = d.{k}" for k in keys)}"""
    args: list[list[Any]] = [[key[i] for key in rows] for i in range(len(keys))]
    args += [[row.get(c) for row in rows.values()] for c in columns]
    args += [[c in row for row in rows.values()] for c in columns]
    args += [values for _, _, values in extra]
    return sql, args


async def _write_upserts(
    conn: Connection, table: str, types: dict[str, str], t: _TableFold
) -> None:
    keys = KEYS[table]
    # rows in key order, so that two replicas folding batches about the same cases lock
    # them in the same order rather than deadlock
    everyone = sorted(dict.fromkeys([*t.upserts, *t.counted]))
    # the rows the batch makes, with their defaults; then every row as the batch left it
    source, labels = _arrays(keys, types)
    await conn.execute(
        f"""INSERT INTO {table} {labels} SELECT * FROM {source}
            ON CONFLICT ({", ".join(keys)}) DO NOTHING""",
        *([key[i] for key in everyone] for i in range(len(keys))),
    )
    counting = table == "case_facts"
    columns = [c for c in types if c not in keys and not (counting and c in _COUNTED)]
    rows = {key: t.upserts.get(key, {}) for key in everyone}
    extra: list[tuple[str, str, list[Any]]] = []
    extra_sets: list[str] = []
    if counting:
        extra = [
            ("counted", "integer", [t.counted.get(k, (0, None))[0] for k in everyone]),
            ("earliest", "timestamptz", [t.counted.get(k, (0, None))[1] for k in everyone]),
        ]
        extra_sets = [
            "acknowledgement_sent_at = least(t.acknowledgement_sent_at, d.earliest)",
            "notifications_sent = t.notifications_sent + d.counted",
        ]
    sql, args = _masked_update(table, types, columns, rows, extra, extra_sets)
    await conn.execute(sql, *args)


async def _write_inserts(
    conn: Connection, table: str, types: dict[str, str], t: _TableFold
) -> None:
    keys = KEYS[table]
    columns = [c for c in types if c not in keys]
    if t.updates:
        # rows there before the batch: every update (the batch's own rows are not made yet)
        sql, args = _masked_update(table, types, columns, dict(sorted(t.updates.items())))
        await conn.execute(sql, *args)
    by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for key, row in sorted(t.inserted.items()):
        by_shape.setdefault(tuple(row), []).append(key)
    made: set[tuple[Any, ...]] = set()
    for shape, shaped in by_shape.items():
        source, labels = _arrays([*keys, *shape], types)
        returned = await conn.fetch(
            f"""INSERT INTO {table} {labels} SELECT * FROM {source}
                ON CONFLICT ({", ".join(keys)}) DO NOTHING RETURNING {", ".join(keys)}""",
            *([key[i] for key in shaped] for i in range(len(keys))),
            *([t.inserted[key][c] for key in shaped] for c in shape),
        )
        made.update(tuple(r) for r in returned)
    later = {key: row for key, row in sorted(t.after_insert.items()) if key in made}
    if later:
        # rows the batch made: the updates that came after their insert
        sql, args = _masked_update(table, types, columns, later)
        await conn.execute(sql, *args)


CASE_EVENTS = [
    "CaseOpened",
    *(
        c.event_type
        for c in (
            ev.CaseTriaged,
            ev.CaseAcknowledged,
            ev.ResponseIssued,
            ev.CaseEscalated,
            ev.RemedyRecorded,
            ev.RedressApproved,
            ev.RedressPaid,
            ev.RemedyCompleted,
            ev.LearningActionAdded,
            ev.LearningActionCompleted,
            ev.OmbudsmanEnquiryReceived,
            ev.OmbudsmanDecisionRecorded,
            ev.OmbudsmanComplianceCompleted,
            ev.CaseReopened,
        )
    ),
    *_CLOSING,
]
DEADLINE_EVENTS = [
    "DeadlineSet",
    "DeadlineChanged",
    "DeadlineMet",
    "DeadlineMissed",
    "DeadlineCancelled",
]
