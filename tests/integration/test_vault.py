"""The vault against real PostgreSQL: one person id per resident, personal fields sealed in the
event store and outbox and opened on the way back, placeholders after erasure, and what the
consumer does with sealed, tampered and erased events and with the wrong master key."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from contracts import FeedbackSubmitted, encode_envelope, new_envelope
from contracts import case_events as ev
from contracts.personal import ERASED, SEALED
from redress import eventstore, vault
from redress.consumer import DeadLetterSink, EventContext, IdempotentConsumer, RawMessage
from tests.conftest import Stack
from tests.integration.conftest import TEST_TOPIC

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def the_vault(stack: Stack) -> vault.Vault:
    return vault.configure(stack.data_dir)


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    async with pool.acquire() as c:
        yield c


def submission(person_id: uuid.UUID, name: str, email: str) -> FeedbackSubmitted:
    return FeedbackSubmitted.model_validate(
        {
            "submission_id": uuid.uuid4(),
            "kind": "complaint",
            "channel": "web",
            "organisation_id": "org",
            "received_at": NOW,
            "summary": f"{name} has had no heating since May",
            "complainant": {"name": name, "email": email, "postcode": "M1 1AE"},
            "person_id": person_id,
        }
    )


async def store(conn: asyncpg.pool.PoolConnectionProxy, payload: object, stream: str) -> None:
    envelope = new_envelope(
        payload,  # type: ignore[arg-type]
        stream_id=stream,
        stream_version=await eventstore.stream_version(conn, stream) + 1,
        occurred_at=NOW,
        actor="test",
        correlation_id=uuid.uuid4(),
    )
    async with conn.transaction():
        await eventstore.append(
            conn, "test", [envelope], expected_version=envelope.stream_version - 1
        )


async def test_a_resident_keeps_one_person_id_by_email_else_phone(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"Ada.{tag}@Example.org"
    phone = "+44 7700 9" + "".join(str(int(c, 16) % 10) for c in tag[:5])
    first = await the_vault.person_for_contact(conn, email=email, phone=phone)
    assert (
        await the_vault.person_for_contact(conn, email=f" ada.{tag}@example.ORG ", phone=None)
        == first
    )
    national = "07700 9" + phone[-5:]
    assert await the_vault.person_for_contact(conn, email=None, phone=national) == first
    # a new email decides, even with a phone someone else gave
    other = await the_vault.person_for_contact(conn, email=f"bo.{tag}@example.org", phone=phone)
    assert other != first
    assert await the_vault.person_for_contact(conn, email=None, phone=None) not in (first, other)
    assert await the_vault.find_person(conn, email.lower()) == first
    assert await the_vault.find_person(conn, str(first)) == first
    assert await the_vault.find_person(conn, "nobody@example.org") is None


async def test_stored_events_hold_no_personal_text_and_read_back_whole(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    tag = uuid.uuid4().hex[:8]
    name, email = f"Ada {tag}", f"ada.{tag}@example.org"
    person = await the_vault.person_for_contact(conn, email=email, phone=None)
    payload = submission(person, name, email)
    stream = f"submission-{payload.submission_id}"
    await store(conn, payload, stream)
    raw = await conn.fetchval("SELECT payload::text FROM events WHERE stream_id = $1", stream)
    out = await conn.fetchval("SELECT message_value FROM outbox ORDER BY position DESC LIMIT 1")
    for blob in (raw.encode(), bytes(out)):
        assert name.encode() not in blob and email.encode() not in blob
        assert b"no heating" not in blob
    assert json.loads(raw)[SEALED]["person_id"] == str(person)
    (back,) = await eventstore.load_stream(conn, stream)
    assert back.payload == payload.model_dump(mode="json")

    # a case event on the submission's case is sealed with the same person's key
    case_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO vault.subjects (subject_id, kind, person_id) VALUES ($1, 'case', $2)",
        str(case_id),
        person,
    )
    await store(conn, ev.CaseClosed(case_id=case_id, reason=f"{name} is happy"), f"c-{case_id}")
    raw = await conn.fetchval(
        "SELECT payload::text FROM events WHERE stream_id = $1", f"c-{case_id}"
    )
    assert name not in raw and json.loads(raw)[SEALED]["person_id"] == str(person)


async def test_after_erasure_reads_give_placeholders_and_new_text_is_never_kept(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    tag = uuid.uuid4().hex[:8]
    name, email = f"Ada {tag}", f"ada.{tag}@example.org"
    person = await the_vault.person_for_contact(conn, email=email, phone=None)
    payload = submission(person, name, email)
    stream = f"submission-{payload.submission_id}"
    await store(conn, payload, stream)
    await eventstore.load_stream(conn, stream)  # the key is now cached
    async with conn.transaction():
        assert await the_vault.destroy_key(conn, person, reason="request", now=NOW)
    assert not await the_vault.destroy_key(conn, person, reason="request", now=NOW)
    (back,) = await eventstore.load_stream(conn, stream)
    assert back.payload["complainant"]["name"] == ERASED
    assert back.payload["complainant"]["email"] is None
    assert back.payload["summary"] == ERASED
    assert back.payload["organisation_id"] == "org" and back.payload["received_at"]
    assert await the_vault.find_person(conn, email) is None  # the blind index is gone too
    # anything written about them afterwards is kept already erased
    await store(conn, submission(person, name, email), f"later-{tag}")
    raw = await conn.fetchval(
        "SELECT payload::text FROM events WHERE stream_id = $1", f"later-{tag}"
    )
    assert name not in raw and json.loads(raw)[SEALED]["ciphertext"] is None


async def test_a_key_erased_by_another_process_never_seals_anything_new(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault, stack: Stack
) -> None:
    """This process has the person's key in its cache (it has just read their events) when
    another process erases them: what this process writes about them next is kept erased."""
    tag = uuid.uuid4().hex[:8]
    name, email = f"Ada {tag}", f"ada.{tag}@example.org"
    person = await the_vault.person_for_contact(conn, email=email, phone=None)
    first = submission(person, name, email)
    await store(conn, first, f"submission-{first.submission_id}")
    await eventstore.load_stream(conn, f"submission-{first.submission_id}")  # key now cached
    elsewhere = vault.Vault(vault.master_key(stack.data_dir))  # another process, same master
    async with conn.transaction():
        assert await elsewhere.destroy_key(conn, person, reason="request", now=NOW)
    later = submission(person, name, email)
    await store(conn, later, f"submission-{later.submission_id}")
    raw = await conn.fetchval(
        "SELECT payload::text FROM events WHERE stream_id = $1",
        f"submission-{later.submission_id}",
    )
    assert name not in raw and json.loads(raw)[SEALED]["ciphertext"] is None


async def test_personal_text_on_an_unclaimed_stream_gets_one_new_person_for_the_stream(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    case_id = uuid.uuid4()
    stream = f"c-{case_id}"
    await store(conn, ev.CaseClosed(case_id=case_id, reason="Ada Lovelace is happy"), stream)
    await store(conn, ev.CaseClosed(case_id=case_id, reason="Ada Lovelace again"), stream)
    rows = await conn.fetch("SELECT payload FROM events WHERE stream_id = $1", stream)
    people = {r["payload"][SEALED]["person_id"] for r in rows}
    assert len(people) == 1 and all(r["payload"][SEALED]["ciphertext"] for r in rows)
    (person,) = people
    record = await the_vault.person(conn, uuid.UUID(person))
    assert record is not None and record.case_ids == [case_id] and record.streams == [stream]
    back = await eventstore.load_stream(conn, stream)
    assert [e.payload["reason"] for e in back] == ["Ada Lovelace is happy", "Ada Lovelace again"]


class Seen:
    def __init__(self) -> None:
        self.payloads: list[FeedbackSubmitted] = []

    async def __call__(self, ctx: EventContext) -> None:
        assert isinstance(ctx.payload, FeedbackSubmitted)
        self.payloads.append(ctx.payload)


async def test_the_consumer_opens_sealed_events_and_refuses_tampered_ones(
    pool: asyncpg.Pool,
    conn: asyncpg.pool.PoolConnectionProxy,
    the_vault: vault.Vault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = uuid.uuid4().hex[:8]
    name, email = f"Ada {tag}", f"ada.{tag}@example.org"
    person = await the_vault.person_for_contact(conn, email=email, phone=None)
    payload = submission(person, name, email)
    envelope = new_envelope(
        payload,
        stream_id="s",
        stream_version=1,
        occurred_at=NOW,
        actor="t",
        correlation_id=uuid.uuid4(),
    )
    async with conn.transaction():
        (sealed,) = await the_vault.seal(conn, [envelope])
    seen = Seen()
    sink = DeadLetterSink("test", "vault-test", pool)  # no producer: recorded, not published
    consumer = IdempotentConsumer(
        service="test",
        group="vault-test",
        pool=pool,
        handlers={"FeedbackSubmitted": seen},
        dead_letters=sink,
        attempts=1,
    )
    assert (
        await consumer.process(RawMessage(TEST_TOPIC, 0, 1, b"k", encode_envelope(sealed)))
        == "applied"
    )
    assert seen.payloads[0].complainant.name == name

    record = dict(sealed.payload[vault.SEALED])
    blob = bytearray(base64.b64decode(record["ciphertext"]))
    blob[-1] ^= 1
    record["ciphertext"] = base64.b64encode(bytes(blob)).decode()
    tampered = sealed.model_copy(
        update={"event_id": uuid.uuid4(), "payload": {**sealed.payload, vault.SEALED: record}}
    )
    message = RawMessage(TEST_TOPIC, 0, 2, b"k", encode_envelope(tampered))
    assert await consumer.process(message) == "dead_lettered"
    error = await pool.fetchval("SELECT error FROM dead_letters WHERE source_offset = 2")
    assert "do not open" in error

    # a process with another master key stops and retries rather than losing the event
    monkeypatch.setattr(vault, "_current", vault.Vault(secrets.token_bytes(32)))
    again = sealed.model_copy(update={"event_id": uuid.uuid4()})
    with pytest.raises(vault.MasterKeyMismatch):
        await consumer.process(RawMessage(TEST_TOPIC, 0, 3, b"k", encode_envelope(again)))
    monkeypatch.undo()

    # erased: the handler still runs, on placeholders
    async with conn.transaction():
        await vault.current().destroy_key(conn, person, reason="request", now=NOW)
    erased = sealed.model_copy(update={"event_id": uuid.uuid4()})
    message = RawMessage(TEST_TOPIC, 0, 4, b"k", encode_envelope(erased))
    assert await consumer.process(message) == "applied"
    assert seen.payloads[-1].complainant.name == ERASED


async def test_a_process_with_another_master_key_is_refused_at_start(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    """The deployment's first process leaves a check value; the same key passes it again, a
    replica configured with another key is stopped before it makes keys nobody else can open."""
    await the_vault.check_master_key(conn)
    await vault.Vault(vault.master_key(None)).check_master_key(conn)  # the same key, anew
    with pytest.raises(vault.MasterKeyMismatch, match="share one master key"):
        await vault.Vault(secrets.token_bytes(32)).check_master_key(conn)
    assert await conn.fetchval("SELECT count(*) FROM vault.master_check") == 1


class _NoDatabase:
    """A reader that fails on any query: what is opened through it came from the cache."""

    async def fetchrow(self, *args: object) -> None:
        raise AssertionError("opened from the database, not from the prefetched keys")

    fetch = fetchval = fetchrow


async def test_a_batch_of_sealed_events_opens_after_one_prefetch(
    pool: asyncpg.Pool, conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    people = []
    for i in range(5):
        tag = uuid.uuid4().hex[:8]
        person = await the_vault.person_for_contact(
            conn, email=f"p{i}.{tag}@example.org", phone=None
        )
        people.append((person, f"Resident {tag}", f"p{i}.{tag}@example.org"))
    erased_person = people[-1][0]
    envelopes = []
    for person, name, email in people * 2:  # each person twice, as a replay meets them
        envelope = new_envelope(
            submission(person, name, email),
            stream_id=f"s-{uuid.uuid4()}",
            stream_version=1,
            occurred_at=NOW,
            actor="t",
            correlation_id=uuid.uuid4(),
        )
        async with conn.transaction():
            (sealed,) = await the_vault.seal(conn, [envelope])
        envelopes.append(sealed)
    async with conn.transaction():
        await the_vault.destroy_key(conn, erased_person, reason="request", now=NOW)

    fresh = vault.Vault(vault.master_key(None))  # nothing cached, as a rebuild starts
    await fresh.prefetch(pool, envelopes)
    opened = [await fresh.open(_NoDatabase(), e) for e in envelopes]  # type: ignore[arg-type]
    names = [o.payload["complainant"]["name"] for o in opened]
    assert names == [name for _, name, _ in people[:-1]] + [ERASED] + [
        name for _, name, _ in people[:-1]
    ] + [ERASED]
    with pytest.raises(AssertionError):  # the reader does refuse: the cache did the work
        await vault.Vault(vault.master_key(None)).open(_NoDatabase(), envelopes[0])  # type: ignore[arg-type]


async def test_what_was_just_sealed_opens_without_a_lookup_and_erasure_still_wins(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    """Sealing keeps the key it read in the cache, so reading the event back (a case's first
    staff command, after the consumer opened it) needs no key lookup; erasing the person in
    this process still drops it, and nothing opens after that."""
    tag = uuid.uuid4().hex[:8]
    name, email = f"Ada {tag}", f"ada.{tag}@example.org"
    person = await the_vault.person_for_contact(conn, email=email, phone=None)
    envelope = new_envelope(
        submission(person, name, email),
        stream_id=f"s-{uuid.uuid4()}",
        stream_version=1,
        occurred_at=NOW,
        actor="t",
        correlation_id=uuid.uuid4(),
    )
    async with conn.transaction():
        (sealed,) = await the_vault.seal(conn, [envelope])
    assert name not in json.dumps(sealed.payload)
    opened = await the_vault.open(_NoDatabase(), sealed)  # type: ignore[arg-type]
    assert opened.payload["complainant"]["name"] == name
    async with conn.transaction():
        assert await the_vault.destroy_key(conn, person, reason="request", now=NOW)
    with pytest.raises(AssertionError):  # no longer cached: the reader is asked, and refuses
        await the_vault.open(_NoDatabase(), sealed)  # type: ignore[arg-type]
    assert (await the_vault.open(conn, sealed)).payload["complainant"]["name"] == ERASED


def letters_sent(case_id: uuid.UUID, count: int) -> list[object]:
    from contracts import NotificationSent

    return [
        new_envelope(
            NotificationSent(
                notification_id=(nid := uuid.uuid4()),
                case_id=case_id,
                template="acknowledgement",
                channel="email",
                recipient=f"ada{n}@example.org",
                sent_at=NOW,
            ),
            stream_id=f"notification-{nid}",
            stream_version=1,
            occurred_at=NOW,
            actor="test",
            correlation_id=nid,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("known_case", [True, False])
async def test_sealing_letters_at_once_gives_what_one_at_a_time_gives(
    conn: asyncpg.pool.PoolConnectionProxy,
    the_vault: vault.Vault,
    known_case: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At once when the case's person is known (two round trips for the lot); one at a time
    otherwise, so that the letters of a case nobody claimed yet still share one new person."""
    case_id = uuid.uuid4()
    if known_case:
        await store(conn, ev.CaseClosed(case_id=case_id, reason="Ada Lovelace"), f"c-{case_id}")
    envelopes = letters_sent(case_id, 3)
    if known_case:

        async def one_at_a_time(*_: object) -> None:
            raise AssertionError("a known person is found for all the letters at once")

        monkeypatch.setattr(the_vault, "_person_and_key", one_at_a_time)
    async with conn.transaction():
        sealed = await the_vault.seal(conn, envelopes, at_once=True)  # type: ignore[arg-type]
    people = {e.payload[SEALED]["person_id"] for e in sealed}
    assert len(people) == 1 and all(e.payload[SEALED]["ciphertext"] for e in sealed)
    assert not any("example.org" in json.dumps(e.payload) for e in sealed)
    (person,) = people
    record = await the_vault.person(conn, uuid.UUID(person))
    assert record is not None and record.case_ids == [case_id]
    assert set(record.streams) >= {e.stream_id for e in envelopes}  # type: ignore[attr-defined]
    opened = [await the_vault.open(conn, e) for e in sealed]
    assert [e.payload["recipient"] for e in opened] == [f"ada{n}@example.org" for n in range(3)]


async def test_a_new_residents_claim_seals_their_first_event_as_the_vault_would(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    """`claim_person` for a new resident records the submission's subjects and hands back
    the key it made, and `Claimed.seal` seals with it what `Vault.seal` would; for someone
    already known it hands back no key and leaves sealing to the vault."""
    tag = uuid.uuid4().hex[:8]
    name, email = f"Ada {tag}", f"ada.{tag}@example.org"
    submission_id = uuid.uuid4()
    stream = f"submission-{submission_id}"
    subjects = [(str(submission_id), "submission"), (stream, "stream")]
    async with conn.transaction():
        claimed = await the_vault.claim_person(conn, email=email, phone=None, subjects=subjects)
        payload = submission(claimed.person_id, name, email).model_copy(
            update={"submission_id": submission_id}
        )
        envelope = new_envelope(
            payload,
            stream_id=stream,
            stream_version=1,
            occurred_at=NOW,
            actor="t",
            correlation_id=uuid.uuid4(),
        )
        sealed = claimed.seal(envelope)
        assert SEALED in sealed.payload and name not in json.dumps(sealed.payload)
        # `eventstore.append` leaves an envelope sealed already as it is
        await eventstore.append(conn, "test", [sealed], expected_version=0)
    recorded = await conn.fetch(
        "SELECT subject_id, kind, person_id FROM vault.subjects WHERE subject_id = ANY($1)",
        [s for s, _ in subjects],
    )
    assert {(r["subject_id"], r["kind"], r["person_id"]) for r in recorded} == {
        (s, kind, claimed.person_id) for s, kind in subjects
    }
    key_id = await conn.fetchval(
        "SELECT key_id FROM vault.people WHERE person_id = $1", claimed.person_id
    )
    assert sealed.payload[SEALED]["key_id"] == str(key_id)
    (back,) = await eventstore.load_stream(conn, stream)
    assert back.payload == payload.model_dump(mode="json")
    # the vault's own sealing of the same event opens the same way
    async with conn.transaction():
        (by_vault,) = await the_vault.seal(conn, [envelope])
    assert by_vault.payload[SEALED]["key_id"] == sealed.payload[SEALED]["key_id"]
    assert (await the_vault.open(conn, by_vault)).payload == back.payload

    # the same resident again: their person, no key of the claim's, sealing left to the vault
    other_id = uuid.uuid4()
    async with conn.transaction():
        again = await the_vault.claim_person(
            conn,
            email=email.upper(),
            phone=None,
            subjects=[(str(other_id), "submission"), (f"submission-{other_id}", "stream")],
        )
    assert again.person_id == claimed.person_id and again.key is None
    assert again.seal(envelope) is envelope
    # and erasure forgets what the claim's key sealed
    async with conn.transaction():
        await the_vault.destroy_key(conn, claimed.person_id, reason="test", now=NOW)
    the_vault.cache.forget_person(claimed.person_id)
    (gone,) = await eventstore.load_stream(conn, stream)
    assert gone.payload["complainant"]["name"] != name


async def claimed_in_a_statement(
    c: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault, pending: vault.PendingClaim
) -> uuid.UUID | None:
    """What a caller's statement holding the claim (`vault.claim_ctes`) says it chose."""
    ctes, person = vault.claim_ctes(1)
    found: uuid.UUID | None = await c.fetchval(f"WITH {ctes} SELECT {person}", *pending.args)
    return found


async def test_a_claim_in_another_statement_does_what_claim_person_does(
    conn: asyncpg.pool.PoolConnectionProxy, the_vault: vault.Vault
) -> None:
    """A new address gets a new person, their key (handed back, to seal with) and the
    subjects; their other address goes to them; the same address again gets the same person
    and no key; no address at all: a new person every time, with a key."""
    tag = uuid.uuid4().hex[:8]
    email, phone = f"Ada.{tag}@example.org", f"07700 {int(tag, 16) % 1_000_000:06d}"
    subjects = [(str(uuid.uuid4()), "submission"), (f"submission-{tag}", "stream")]
    async with conn.transaction():
        pending = the_vault.claim(email=email, phone=phone, subjects=subjects)
        new = the_vault.settle(pending, await claimed_in_a_statement(conn, the_vault, pending))
    assert new is not None and new.person_id == pending.candidate and new.key is not None
    assert new.subjects == tuple(subjects)
    rows = await conn.fetch(
        "SELECT subject_id, kind, person_id FROM vault.subjects WHERE subject_id = ANY($1)",
        [s for s, _ in subjects],
    )
    assert {(r["subject_id"], r["kind"], r["person_id"]) for r in rows} == {
        (s, k, new.person_id) for s, k in subjects
    }
    wrapped = await conn.fetchrow(
        "SELECT key_id, wrapped_key FROM vault.people WHERE person_id = $1", new.person_id
    )
    assert wrapped["key_id"] == new.key_id
    assert the_vault._unwrap(wrapped["key_id"], bytes(wrapped["wrapped_key"])) == new.key
    assert await the_vault.person_for_contact(conn, email=None, phone=phone) == new.person_id
    again = the_vault.claim(email=f" {email.upper()} ", phone=None)
    async with conn.transaction():
        known = the_vault.settle(again, await claimed_in_a_statement(conn, the_vault, again))
    assert known == vault.Claimed(new.person_id)
    assert not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM vault.people WHERE person_id = $1)", again.candidate
    )
    nobody = [the_vault.claim(email=None, phone=None) for _ in range(2)]
    chosen = []
    for pending in nobody:
        async with conn.transaction():
            chosen.append(
                the_vault.settle(pending, await claimed_in_a_statement(conn, the_vault, pending))
            )
    assert [c.person_id for c in chosen if c is not None and c.key] == [p.candidate for p in nobody]


async def test_a_claim_in_a_statement_that_loses_a_race_chooses_nobody_and_claiming_finds_who_won(
    pool: asyncpg.Pool, the_vault: vault.Vault
) -> None:
    """Two first submissions from one new address at once (for two organisations, so no lock
    of intake's keeps them apart): the second statement waits for the first transaction, and
    its snapshot (taken as it started) does not see the address claimed while it waited, so it
    chooses nobody and
    writes nothing; `claim_person` in the same transaction then finds the first one's person
    and gives it the second one's phone too."""
    tag = uuid.uuid4().hex[:8]
    email, phone = f"race.{tag}@example.org", f"07700 {int(tag, 16) % 1_000_000:06d}"
    first = the_vault.claim(email=email, phone=None, subjects=[(str(uuid.uuid4()), "submission")])
    second = the_vault.claim(email=email, phone=phone)
    started = asyncio.Event()

    async def later(c: asyncpg.pool.PoolConnectionProxy) -> vault.Claimed:
        async with c.transaction():
            started.set()
            settled = the_vault.settle(second, await claimed_in_a_statement(c, the_vault, second))
            assert settled is None
            return await the_vault.claim_person(c, email=email, phone=phone)

    async with pool.acquire() as one, pool.acquire() as two:
        async with one.transaction():
            won = the_vault.settle(first, await claimed_in_a_statement(one, the_vault, first))
            waiting = asyncio.create_task(later(two))
            await started.wait()
            for _ in range(1200):  # a minute at most: until the second waits for this one
                if await one.fetchval("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted)"):
                    break
                await asyncio.sleep(0.05)
            assert not waiting.done()
        async with asyncio.timeout(60):
            lost = await waiting
    assert won is not None and won.person_id == first.candidate and won.key is not None
    assert lost.person_id == won.person_id and lost.key is None
    assert await the_vault.person_for_contact(pool, email=None, phone=phone) == won.person_id  # type: ignore[arg-type]
    assert not await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM vault.people WHERE person_id = $1)", second.candidate
    )


async def test_the_person_and_key_lookups_are_planned_once_not_on_every_call(
    conn: asyncpg.pool.PoolConnectionProxy,
) -> None:
    """Both ways of finding whose an event is (person given, or found by subject) keep one
    plan for all calls, with enough people known that a plan for the actual values looks
    cheaper: PostgreSQL re-planned the single statement they replaced on every call."""
    await conn.execute(
        """INSERT INTO vault.subjects (subject_id, kind, person_id)
           SELECT 'case-' || g, 'case', gen_random_uuid() FROM generate_series(1, 20000) g"""
    )
    await conn.execute("ANALYZE vault.subjects")
    person = uuid.uuid4()
    for i in range(20):
        await conn.fetchrow(vault._GIVEN_PERSON_AND_KEY, person, [f"case-{uuid.uuid4()}"], ["case"])
        found = await conn.fetchrow(
            vault._FOUND_PERSON_AND_KEY,
            [f"case-{i + 5}", f"stream-{uuid.uuid4()}"],
            ["case", "stream"],
            uuid.uuid4(),
        )
        assert found is not None and found["person_id"] is not None
    plans = {
        r["statement"].strip().split()[0:2][1]: (r["generic_plans"], r["custom_plans"])
        for r in await conn.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
        if "vault.subjects" in r["statement"] and r["statement"].strip().startswith("WITH")
    }
    assert set(plans) == {"claimed", "chosen"}, plans
    for generic, custom in plans.values():
        assert generic >= 10 and custom <= 5, plans
