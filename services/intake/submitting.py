"""The one way in for every channel (the JSON API, the agent's screen, a scanned letter, the
shared mailbox): check the times, honour a retry's idempotency key, link a duplicate to its
first submission, add triage hints, and store the submission, its files and its event in one
transaction."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from contracts import Channel, CorrespondenceReceived, FeedbackSubmitted, new_envelope
from contracts.events import Sender
from redress import eventstore, vault
from redress.db import Connection, transaction_with_prelude
from redress.service import Runtime
from services.intake import settings, store, tracking
from services.intake.attachments import KeptFile
from services.intake.domain import duplicates
from services.intake.domain.hints import hints

#: a clock a few minutes fast on the sender's side is not a future complaint
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Receipt:
    submission_id: uuid.UUID
    #: "received", or "duplicate" when this repeats an earlier submission (whose id this is)
    status: str
    received_at: datetime
    correlation_id: uuid.UUID


@dataclass(frozen=True)
class Refused:
    """The request cannot be taken as it is; ``field`` says which part and ``reason`` why."""

    field: str
    reason: str


def request_hash(*parts: Any) -> str:
    """A digest of what was asked, so that a reused idempotency key can be told apart from a
    true retry."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_KEY_REUSED = Refused(
    "Idempotency-Key",
    "this key was already used for a different submission; retry with the same body, "
    "or use a new key for a new submission",
)


async def take(
    runtime: Runtime,
    fields: dict[str, Any],
    received_at: datetime | None,
    actor: str,
    idempotency_key: str | None,
    *,
    files: Sequence[KeptFile] = (),
    duplicate_text: str | None = None,
    fingerprint: str | None = None,
    conn: Connection | None = None,
) -> Receipt | Refused:
    """``duplicate_text`` is the text compared with earlier submissions (an email's body
    without its subject, say); ``fingerprint`` what a retry must repeat (by default the
    fields); ``conn`` a connection the request already holds (not in a transaction), else
    one is borrowed from the pool. An organisation not configured is refused
    (``organisation_id``), except while none is configured at all
    (`tracking.KnownOrganisations`)."""
    now = runtime.clock()
    asked_hash = fingerprint or request_hash(actor, fields, received_at)
    received_at = received_at or now
    if received_at > now + FUTURE_TOLERANCE:
        return Refused("received_at", "must not be in the future")
    happened_on: date | None = fields.get("happened_on")
    if happened_on is not None and happened_on > received_at.date():
        return Refused("happened_on", "must not be after the day we received it")
    config = settings.current()
    complainant = fields["complainant"]
    contact_keys = duplicates.contact_keys(complainant.get("email"), complainant.get("phone"))
    text_keys = duplicates.text_keys(duplicate_text or fields["summary"])
    submission_id = uuid.uuid4()
    stream_id = f"submission-{submission_id}"
    correlation_id = uuid.uuid4()
    payload = FeedbackSubmitted.model_validate(
        {
            **fields,
            "submission_id": submission_id,
            "received_at": received_at,
            "triage_hints": hints(fields.get("summary"), fields.get("outcome_sought")),
            "attachments": [f.reference for f in files],
        }
    )
    async with _borrowed(runtime, conn) as conn:
        if idempotency_key is not None:
            existing = await store.find_by_idempotency_key(conn, idempotency_key)
            if existing is not None:
                return await _retry(conn, existing, asked_hash)
        known = tracking.known_organisations(runtime.pool)
        if not await known.accepts(conn, payload.organisation_id):
            return Refused(
                "organisation_id",
                f"{payload.organisation_id!r} is not an organisation we take submissions for; "
                "use the id of one configured in casework (GET /v1/organisations/{id} on "
                "intake says whether it is known)",
            )
        try:
            # the person's locks come with the BEGIN (`store.contact_locks`)
            locks = store.contact_locks(payload.organisation_id, contact_keys)
            the_vault = vault.current()
            about = [(str(submission_id), "submission"), (stream_id, "stream")]
            email, phone = complainant.get("email"), complainant.get("phone")
            async with transaction_with_prelude(conn, locks):
                # the same resident (by email, else phone) keeps one person id, and one key
                # that seals their personal fields in every event (redress.vault): claimed in
                # the statement that stores the submission (a new resident's key comes back
                # with their id, to seal the event with)
                claim = the_vault.claim(email=email, phone=phone, subjects=about)
                window = timedelta(hours=config.duplicate_window_hours)
                stored = await store.insert(
                    conn,
                    payload,
                    idempotency_key=idempotency_key,
                    recorded_at=now,
                    correlation_id=correlation_id,
                    request_hash=asked_hash,
                    contact_keys=contact_keys,
                    text_keys=text_keys,
                    look_back=(
                        (received_at - window, received_at + window)
                        if window > timedelta(0)
                        else None
                    ),
                    claim=claim,
                )
                person = the_vault.settle(claim, stored.person_id)
                if person is None:  # a first claim of the address raced this one, and won
                    person = await the_vault.claim_person(
                        conn, email=email, phone=phone, subjects=about
                    )
                payload = payload.model_copy(update={"person_id": person.person_id})
                earlier = stored.earlier
                original = _original(payload, earlier, contact_keys, text_keys, config)
                if original is not None:
                    first = await store.mark_duplicate(conn, payload, contact_keys, original)
                    return _receipt(first, duplicate=True)
                await store.save_attachments(
                    conn, files, received_at=received_at, submission_id=submission_id
                )
                envelope = new_envelope(
                    payload,
                    stream_id=stream_id,
                    stream_version=1,
                    occurred_at=received_at,
                    recorded_at=now,
                    actor=actor,
                    correlation_id=correlation_id,
                )
                await eventstore.append(
                    conn, runtime.service, [person.seal(envelope)], expected_version=0
                )
        except asyncpg.UniqueViolationError:
            # two retries raced: the other one's row is there now
            if idempotency_key is None:
                raise
            existing = await store.find_by_idempotency_key(conn, idempotency_key)
            if existing is None:
                raise
            return await _retry(conn, existing, asked_hash)
    return Receipt(submission_id, "received", received_at, correlation_id)


@contextlib.asynccontextmanager
async def _borrowed(runtime: Runtime, conn: Connection | None) -> AsyncIterator[Connection]:
    if conn is not None:
        yield conn
        return
    async with runtime.pool.acquire() as borrowed:
        yield borrowed


async def _retry(conn: Any, existing: asyncpg.Record, asked_hash: str) -> Receipt | Refused:
    if existing["request_hash"] is not None and existing["request_hash"] != asked_hash:
        return _KEY_REUSED
    return await receipt_of(conn, existing)


def _original(
    payload: FeedbackSubmitted,
    rows: Sequence[asyncpg.Record],
    contact_keys: frozenset[str],
    text_keys: frozenset[str],
    config: settings.IntakeSettings,
) -> uuid.UUID | None:
    """The earlier first submission (of ``rows``, `store.insert`'s) this one repeats."""
    window = timedelta(hours=config.duplicate_window_hours)
    if not contact_keys or window <= timedelta(0):
        return None
    new = duplicates.Fingerprint(
        payload.organisation_id, payload.kind.value, contact_keys, text_keys, payload.received_at
    )
    earlier = [
        duplicates.Earlier(
            str(r["submission_id"]),
            duplicates.Fingerprint(
                r["organisation_id"],
                r["kind"],
                frozenset(r["contact_keys"]),
                frozenset(r["text_keys"]),
                r["received_at"],
            ),
        )
        for r in rows
    ]
    found = duplicates.original_of(
        new, earlier, window=window, threshold=config.duplicate_similarity
    )
    return None if found is None else uuid.UUID(found)


async def receipt_of(conn: Any, row: asyncpg.Record) -> Receipt:
    """A stored submission's receipt; a duplicate answers with its first submission's."""
    if row["duplicate_of"] is not None:
        first = await store.get(conn, row["duplicate_of"])
        assert first is not None
        return _receipt(first, duplicate=True)
    return _receipt(row, duplicate=False)


def _receipt(row: asyncpg.Record, *, duplicate: bool) -> Receipt:
    return Receipt(
        submission_id=row["submission_id"],
        status="duplicate" if duplicate else "received",
        received_at=row["received_at"],
        correlation_id=row["correlation_id"],
    )


@dataclass(frozen=True)
class CorrespondenceTaken:
    correspondence_id: uuid.UUID
    case_id: uuid.UUID
    reference: str


async def take_correspondence(
    runtime: Runtime,
    *,
    case_id: uuid.UUID,
    reference: str,
    sender: Sender,
    subject: str,
    text: str,
    files: Sequence[KeptFile],
    idempotency_key: str | None,
    fingerprint: str,
    actor: str,
) -> CorrespondenceTaken | Refused:
    """A reply about an existing case: kept with its files and sent on to casework as
    `CorrespondenceReceived`. A retry with the same key is taken once."""
    now = runtime.clock()
    correspondence_id = uuid.uuid4()
    payload = CorrespondenceReceived(
        correspondence_id=correspondence_id,
        case_id=case_id,
        reference=reference,
        channel=Channel.EMAIL,
        received_at=now,
        sender=sender,
        subject=subject[:1_000],
        text=text[:50_000],
        attachments=[f.reference for f in files],
    )
    async with runtime.pool.acquire() as conn:
        if idempotency_key is not None:
            existing = await store.find_correspondence(conn, idempotency_key)
            if existing is not None:
                if existing["request_hash"] != fingerprint:
                    return _KEY_REUSED
                return CorrespondenceTaken(
                    existing["correspondence_id"], existing["case_id"], existing["reference"]
                )
        async with conn.transaction():
            await store.insert_correspondence(
                conn,
                correspondence_id=correspondence_id,
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
                case_id=case_id,
                reference=reference,
                received_at=now,
                recorded_at=now,
            )
            await store.save_attachments(
                conn, files, received_at=now, correspondence_id=correspondence_id
            )
            envelope = new_envelope(
                payload,
                stream_id=f"correspondence-{correspondence_id}",
                stream_version=1,
                occurred_at=now,
                recorded_at=now,
                actor=actor,
                correlation_id=uuid.uuid4(),
            )
            await eventstore.append(conn, runtime.service, [envelope], expected_version=0)
    return CorrespondenceTaken(correspondence_id, case_id, reference)
