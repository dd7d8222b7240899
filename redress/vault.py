"""Per-person keys, so that a person can be forgotten without rewriting the log (crypto-shredding).

Every resident gets a **person id** at intake. Intake looks the resident up by their normalised
email address, then their phone number, so someone who complains twice keeps one id and one key
(and one erasure forgets both complaints); someone with neither gets a new id. The lookup is a
*blind index*: an HMAC of the normalised address under a key derived from the master key, so the
vault never stores an address in clear. Two people sharing one email address share an id.

Each person has one random 256-bit data key, stored in the ``vault`` schema wrapped (AES-GCM)
by the **master key**: ``REDRESS_MASTER_KEY`` (32 bytes, urlsafe base64 or hex) or, on the
embedded stack, ``<data dir>/master.key`` made on first use, like the token key.

`Vault.seal` runs inside `eventstore.append`: the personal fields of each event
(`contracts.personal`) are encrypted together under the key of the event's person, so event
stores, outboxes and topics hold only ciphertext, the person id and the key id. Which person an
event belongs to: the payload's ``person_id`` (submissions and opened cases carry it), else the
person recorded for its ``case_id``, ``submission_id`` or stream in ``vault.subjects``.
`Vault.open` runs wherever events are read back (the idempotent consumer, `load_stream`), so no
service decrypts anything itself.

Erasing a person deletes their key and their blind-index entries. From then on their fields
open as placeholders (``"[erased]"``, or ``None`` for contact details), never as an error, so
consumers, replays and rebuilds carry on. Keys are cached per process (a small LRU); an erased
key is dropped from the cache when the process sees `PersonErased`, and any cached key expires
after a minute anyway, so a process that never sees the event still stops reading it soon.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts import ContractError, Envelope
from contracts.personal import (
    SEALED,
    blanked,
    erased,
    extract,
    personal_paths,
    replace,
    sealed_record,
)
from redress.db import Connection
from redress.keyfile import read_or_create

MASTER_KEY_FILE = "master.key"
_NONCE = 12
_FORMAT = "aesgcm-v1"
_MASTER_CHECK_ID = uuid.UUID(int=0)
_MASTER_CHECK = b"redress master key check v1"

Reader = Connection | asyncpg.Pool


class MasterKeyMismatch(RuntimeError):
    """A stored key does not unwrap: this process has another master key than the one the key
    was made with. A configuration fault, not a bad event: consumers do not dead-letter on it,
    they stop and retry until the right key is configured."""


class SealBroken(ContractError):
    """A sealed record that does not open with its key: tampered, or sealed under another
    master key. Bad input, so the consumer dead-letters it; an *erased* key is not this."""


# -- the pure parts ---------------------------------------------------------------------------


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("sealed fields do not open with their key (tampered?)") from exc


def _aad(event_type: str, event_id: uuid.UUID, person_id: str, key_id: str | None) -> bytes:
    """Binds the ciphertext to its event: a sealed record copied into another event, or onto
    another person, does not open."""
    return f"{event_type}|{event_id}|{person_id}|{key_id}".encode()


def seal_payload(
    event_type: str,
    event_id: uuid.UUID,
    payload: dict[str, Any],
    *,
    person_id: uuid.UUID,
    key_id: uuid.UUID | None,
    key: bytes | None,
) -> dict[str, Any]:
    """The payload with its personal fields replaced by one sealed record. With no key (the
    person is already erased) the fields are dropped: what is written is already forgotten."""
    if SEALED in payload:
        return payload
    values = extract(payload, personal_paths(event_type))
    if not values:
        return payload
    paths = sorted(values)
    kid = None if key_id is None or key is None else str(key_id)
    record: dict[str, Any] = {
        "format": _FORMAT,
        "person_id": str(person_id),
        "key_id": kid,
        "fields": paths,
        "ciphertext": None,
    }
    if key is not None:
        plain = json.dumps(values, separators=(",", ":"), sort_keys=True).encode()
        blob = encrypt(key, plain, _aad(event_type, event_id, str(person_id), kid))
        record["ciphertext"] = base64.b64encode(blob).decode()
    return {**blanked(payload, paths), SEALED: record}


def open_payload(
    event_type: str, event_id: uuid.UUID, payload: dict[str, Any], key: bytes | None
) -> dict[str, Any]:
    """The payload as it was written, or with placeholders where the key is gone."""
    record = sealed_record(payload)
    if record is None:
        return payload
    clear = {k: v for k, v in payload.items() if k != SEALED}
    paths = _paths(record)
    if key is None or record.get("ciphertext") is None:
        return replace(clear, erased(paths))
    try:
        blob = base64.b64decode(str(record["ciphertext"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealBroken("sealed ciphertext is not base64") from exc
    aad = _aad(event_type, event_id, str(record.get("person_id")), record.get("key_id"))
    values = json.loads(decrypt(key, blob, aad))
    if not isinstance(values, dict) or set(values) != set(paths):
        raise SealBroken("sealed fields do not match their list")
    return replace(clear, values)


def _paths(record: dict[str, Any]) -> list[str]:
    paths = record.get("fields")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise SealBroken("sealed record has no list of fields")
    return paths


def sealed_person(payload: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """(person id, key id) of a sealed payload, or None if nothing in it is sealed."""
    record = sealed_record(payload)
    if record is None:
        return None
    try:
        key_id = record.get("key_id")
        return uuid.UUID(str(record["person_id"])), uuid.UUID(key_id) if key_id else None
    except (KeyError, ValueError) as exc:
        raise SealBroken("sealed record names no valid person or key") from exc


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """Digits only, a UK +44 written as the national 0, so "+44 7700 900123" and
    "07700900123" are one number."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("44") and len(digits) > 10:
        digits = "0" + digits[2:]
    return digits


def parse_master_key(text: str) -> bytes:
    """32 bytes as urlsafe base64 (padding optional) or 64 hex digits."""
    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError("REDRESS_MASTER_KEY must be 32 bytes, as urlsafe base64 or 64 hex digits")
    return raw


def master_key(data_dir: Path | None = None) -> bytes:
    """``REDRESS_MASTER_KEY``, else the embedded stack's key file (created on first use)."""
    configured = os.environ.get("REDRESS_MASTER_KEY")
    if configured:
        return parse_master_key(configured)
    if data_dir is None:
        from redress.settings import RuntimeSettings

        data_dir = RuntimeSettings().data_dir
    text = read_or_create(
        data_dir / MASTER_KEY_FILE,
        lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    )
    return parse_master_key(text)


# -- the key store ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonRecord:
    person_id: uuid.UUID
    created_at: datetime
    erased_at: datetime | None
    erasure_reason: str | None
    case_ids: list[uuid.UUID]
    submission_ids: list[uuid.UUID]
    streams: list[str]


class KeyCache:
    """A small LRU of key id -> key (or None once erased). Keys expire after ``ttl`` seconds so
    a process that never sees `PersonErased` still stops using an erased key; an erased key is
    remembered for good (erasure is permanent)."""

    def __init__(self, size: int = 4096, ttl: float = 60.0) -> None:
        self.size = size
        self.ttl = ttl
        self._items: OrderedDict[uuid.UUID, tuple[uuid.UUID, bytes | None, float]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key_id: uuid.UUID) -> tuple[bool, bytes | None]:
        item = self._items.get(key_id)
        if item is None or (item[1] is not None and item[2] < time.monotonic()):
            self.misses += 1
            return False, None
        self._items.move_to_end(key_id)
        self.hits += 1
        return True, item[1]

    def put(self, key_id: uuid.UUID, person_id: uuid.UUID, key: bytes | None) -> None:
        self._items[key_id] = (person_id, key, time.monotonic() + self.ttl)
        self._items.move_to_end(key_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def forget_person(self, person_id: uuid.UUID) -> None:
        for key_id in [k for k, v in self._items.items() if v[0] == person_id]:
            del self._items[key_id]


#: claim an address ($1) for a new person ($2) and, if it was free, make their key ($3, the
#: wrapped key $4) and record what the submission is about for them (subjects $5, kinds $6) in
#: the same statement: a first submission's person in one round trip.
#: Returns the person id, or nothing when the address already has a person.
_CLAIM_FOR_NEW_PERSON = """
WITH claimed AS (
    INSERT INTO vault.contacts (digest, person_id) VALUES ($1, $2)
    ON CONFLICT (digest) DO NOTHING RETURNING person_id
), made AS (
    INSERT INTO vault.people (person_id, key_id, wrapped_key)
    SELECT person_id, $3, $4 FROM claimed
    ON CONFLICT (person_id) DO NOTHING
), about AS (
    INSERT INTO vault.subjects (subject_id, kind, person_id)
    SELECT s.subject_id, s.kind, claimed.person_id
    FROM unnest($5::text[], $6::text[]) AS s(subject_id, kind), claimed
    ON CONFLICT (subject_id) DO NOTHING
)
SELECT person_id FROM claimed
"""


@dataclass(frozen=True)
class Claimed:
    """The person a submission's contact details belong to (`Vault.claim_person`). For a new
    person, also the key made for them in this transaction and the subjects recorded for them
    with it: their events can then be sealed without asking the database again."""

    person_id: uuid.UUID
    subjects: tuple[tuple[str, str], ...] = ()
    key_id: uuid.UUID | None = None
    key: bytes | None = None

    def seal(self, envelope: Envelope) -> Envelope:
        """The envelope sealed as `Vault.seal` would seal it, when this claim made the key of
        its person and recorded its subjects; else unchanged (then `Vault.seal` does it, in
        `eventstore.append`). A key made in this very transaction cannot have been erased
        since, so the rule that a key is read from its row before sealing holds."""
        payload = envelope.payload
        if (
            self.key is None
            or SEALED in payload
            or str(payload.get("person_id")) != str(self.person_id)
            or tuple(_subjects(envelope)) != self.subjects
        ):
            return envelope
        sealed = seal_payload(
            envelope.event_type,
            envelope.event_id,
            payload,
            person_id=self.person_id,
            key_id=self.key_id,
            key=self.key,
        )
        return envelope.model_copy(update={"payload": sealed})


@dataclass(frozen=True)
class PendingClaim:
    """`Vault.claim_person` made part of a caller's statement (`claim_ctes`): its arguments,
    and what `Vault.settle` needs once the statement has said whom it chose."""

    #: the parameters `claim_ctes` numbers from its ``first``
    args: tuple[object, ...]
    candidate: uuid.UUID
    subjects: tuple[tuple[str, str], ...]
    key_id: uuid.UUID
    key: bytes


#: how many parameters `claim_ctes` takes
CLAIM_ARGS = 7


@functools.lru_cache(maxsize=8)
def claim_ctes(first: int) -> tuple[str, str]:
    """`Vault.claim_person`'s work as common table expressions, to put in another statement
    of the submission's transaction (no round trip of its own), and the SQL expression of the
    person chosen. Parameters ``$first`` on (`PendingClaim.args`): the address that decides
    (the email's, else the phone's; NULL: nobody to recognise), the other address, the
    candidate person, their key's id and wrapped key, the subjects and their kinds.

    The address goes to the candidate unless someone has it; their key row is made (or, for
    someone known who has none, theirs); the other address goes to whoever was chosen; the
    subjects are recorded for a new person. A racing first claim of the same address that
    commits while this statement waits for it is not in the statement's snapshot: then nobody
    is chosen (NULL), nothing else is written, and `Vault.settle` says to claim again."""
    d1, d2, cand, key_id, wrapped, ids, kinds = (f"${first + n}" for n in range(CLAIM_ARGS))
    ctes = f"""claim_new AS (
    INSERT INTO vault.contacts (digest, person_id)
    SELECT {d1}::bytea, {cand}::uuid WHERE {d1}::bytea IS NOT NULL
    ON CONFLICT (digest) DO NOTHING RETURNING person_id
), claim_chosen AS (
    SELECT person_id FROM claim_new
    UNION ALL
    SELECT person_id FROM vault.contacts
    WHERE digest = {d1}::bytea AND NOT EXISTS (SELECT FROM claim_new)
    UNION ALL
    SELECT {cand}::uuid WHERE {d1}::bytea IS NULL
), claim_made AS (
    INSERT INTO vault.people (person_id, key_id, wrapped_key)
    SELECT person_id, {key_id}::uuid, {wrapped}::bytea FROM claim_chosen
    ON CONFLICT (person_id) DO NOTHING
), claim_linked AS (
    INSERT INTO vault.contacts (digest, person_id)
    SELECT {d2}::bytea, person_id FROM claim_chosen WHERE {d2}::bytea IS NOT NULL
    ON CONFLICT (digest) DO NOTHING
), claim_about AS (
    INSERT INTO vault.subjects (subject_id, kind, person_id)
    SELECT s.subject_id, s.kind, {cand}::uuid
    FROM unnest({ids}::text[], {kinds}::text[]) AS s(subject_id, kind)
    WHERE EXISTS (SELECT FROM claim_chosen WHERE person_id = {cand}::uuid)
    ON CONFLICT (subject_id) DO NOTHING
)"""
    return ctes, "(SELECT person_id FROM claim_chosen LIMIT 1)"


class Vault:
    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._master = AESGCM(master)
        self._index_key = hmac.new(master, b"redress contact index v1", hashlib.sha256).digest()
        self.cache = KeyCache()

    # keys

    def _wrap(self, key_id: uuid.UUID, key: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._master.encrypt(nonce, key, key_id.bytes)

    def _unwrap(self, key_id: uuid.UUID, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], key_id.bytes)
        except InvalidTag as exc:
            raise MasterKeyMismatch(
                f"key {key_id} does not unwrap: REDRESS_MASTER_KEY is not the one it was made with"
            ) from exc

    async def check_master_key(self, conn: Connection) -> None:
        """Refuse to run with another master key than the deployment's first process had: keys
        this process made would not open anywhere else. Raises MasterKeyMismatch."""
        await conn.execute(
            "INSERT INTO vault.master_check (id, wrapped) VALUES (1, $1) ON CONFLICT DO NOTHING",
            self._wrap(_MASTER_CHECK_ID, _MASTER_CHECK),
        )
        wrapped = await conn.fetchval("SELECT wrapped FROM vault.master_check WHERE id = 1")
        try:
            ok = self._unwrap(_MASTER_CHECK_ID, wrapped) == _MASTER_CHECK
        except MasterKeyMismatch:
            ok = False
        if not ok:
            raise MasterKeyMismatch(
                "REDRESS_MASTER_KEY is not the key this database's vault was made with: every "
                "process of a deployment must share one master key"
            )

    def contact_digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._index_key, f"{kind}:{value}".encode(), hashlib.sha256).digest()

    def contact_digests(self, email: str | None, phone: str | None) -> list[bytes]:
        out = []
        if email and normalise_email(email):
            out.append(self.contact_digest("email", normalise_email(email)))
        if phone and normalise_phone(phone):
            out.append(self.contact_digest("phone", normalise_phone(phone)))
        return out

    async def _ensure_person(self, conn: Connection, person_id: uuid.UUID) -> None:
        key_id = uuid.uuid4()
        await conn.execute(
            """INSERT INTO vault.people (person_id, key_id, wrapped_key)
               VALUES ($1, $2, $3) ON CONFLICT (person_id) DO NOTHING""",
            person_id,
            key_id,
            self._wrap(key_id, AESGCM.generate_key(bit_length=256)),
        )

    async def person_for_contact(
        self, conn: Connection, *, email: str | None, phone: str | None
    ) -> uuid.UUID:
        """The resident's person id: the one their email (else phone) already has, or a new
        one. Run it in the transaction that records the submission."""
        return (await self.claim_person(conn, email=email, phone=phone)).person_id

    async def claim_person(
        self,
        conn: Connection,
        *,
        email: str | None,
        phone: str | None,
        subjects: Sequence[tuple[str, str]] = (),
    ) -> Claimed:
        """`person_for_contact`, and for a new person also what sealing their first event
        needs: their key, and ``subjects`` (what the event is about, as `Vault.seal` records
        them: ``(id, kind)``, submission then stream) recorded for them in the same
        statement, so `Claimed.seal` needs no round trip of its own."""
        candidate = uuid.uuid4()
        chosen: uuid.UUID | None = None
        made: tuple[uuid.UUID, bytes] | None = None  # the candidate's key, made as claimed
        for digest in self.contact_digests(email, phone):  # the email first: it decides
            # a racing first submission with the same address waits here, then sees the winner
            if chosen is None:
                key_id = uuid.uuid4()
                key = AESGCM.generate_key(bit_length=256)
                claimed = await conn.fetchval(
                    _CLAIM_FOR_NEW_PERSON,
                    digest,
                    candidate,
                    key_id,
                    self._wrap(key_id, key),
                    [s for s, _ in subjects],
                    [kind for _, kind in subjects],
                )
                made = (key_id, key) if claimed is not None else None
                chosen = claimed or await conn.fetchval(
                    "SELECT person_id FROM vault.contacts WHERE digest = $1", digest
                )
            else:
                await conn.execute(
                    """INSERT INTO vault.contacts (digest, person_id) VALUES ($1, $2)
                       ON CONFLICT (digest) DO NOTHING""",
                    digest,
                    chosen,
                )
        person_id = chosen or candidate
        if made is None:
            await self._ensure_person(conn, person_id)
            return Claimed(person_id)
        # as `_sealing_key` would: the events sealed now are usually read back soon
        self.cache.put(made[0], person_id, made[1])
        return Claimed(person_id, tuple(subjects), made[0], made[1])

    def claim(
        self,
        *,
        email: str | None,
        phone: str | None,
        subjects: Sequence[tuple[str, str]] = (),
    ) -> PendingClaim:
        """`claim_person`'s arguments, for a statement of the caller's that holds
        `claim_ctes`; its outcome goes to `settle`."""
        digests = self.contact_digests(email, phone)  # the email first: it decides
        candidate, key_id = uuid.uuid4(), uuid.uuid4()
        key = AESGCM.generate_key(bit_length=256)
        return PendingClaim(
            (
                digests[0] if digests else None,
                digests[1] if len(digests) > 1 else None,
                candidate,
                key_id,
                self._wrap(key_id, key),
                [s for s, _ in subjects],
                [kind for _, kind in subjects],
            ),
            candidate,
            tuple(subjects),
            key_id,
            key,
        )

    def settle(self, pending: PendingClaim, person_id: uuid.UUID | None) -> Claimed | None:
        """What `claim_person` would have returned, given whom the statement chose; None when
        it chose nobody (a racing first claim of the address: `claim_person` then finds it)."""
        if person_id is None:
            return None
        if person_id != pending.candidate:
            return Claimed(person_id)
        # as `_sealing_key` would: the events sealed now are usually read back soon
        self.cache.put(pending.key_id, person_id, pending.key)
        return Claimed(person_id, pending.subjects, pending.key_id, pending.key)

    async def _key_for_sealing(
        self, conn: Connection, person_id: uuid.UUID
    ) -> tuple[uuid.UUID | None, bytes | None]:
        await self._ensure_person(conn, person_id)
        row = await conn.fetchrow(
            "SELECT key_id, wrapped_key FROM vault.people WHERE person_id = $1", person_id
        )
        assert row is not None
        return self._sealing_key(person_id, row)

    def _sealing_key(
        self, person_id: uuid.UUID, row: asyncpg.Record
    ) -> tuple[uuid.UUID | None, bytes | None]:
        """Read from the person's row each time, never from the cache: a key erased by another
        process a moment ago must not seal anything new. What was read goes into the cache,
        as `key` would put it there: the events just sealed are usually read back soon (a
        case opened from a submission gets its first staff command a moment later), and their
        first reading then needs no lookup of its own."""
        if row["wrapped_key"] is None:
            return None, None
        key: bytes = self._unwrap(row["key_id"], bytes(row["wrapped_key"]))
        self.cache.put(row["key_id"], person_id, key)
        return row["key_id"], key

    async def key(self, reader: Reader, key_id: uuid.UUID) -> bytes | None:
        """A person's key by its id, None once erased (or never known)."""
        cached, key = self.cache.get(key_id)
        if cached:
            return key
        row = await reader.fetchrow(
            "SELECT person_id, wrapped_key FROM vault.people WHERE key_id = $1", key_id
        )
        if row is None:
            return None  # never cached: it may be an uncommitted key seen from elsewhere
        key = (
            None if row["wrapped_key"] is None else self._unwrap(key_id, bytes(row["wrapped_key"]))
        )
        self.cache.put(key_id, row["person_id"], key)
        return key

    async def prefetch(self, reader: Reader, envelopes: Sequence[Envelope]) -> None:
        """Read the keys of many sealed envelopes in one query, into the cache, so that opening
        them reads nothing more: a replayed batch costs one key lookup, not one per person.
        What cannot be prefetched (a broken seal, an unknown key, one that does not unwrap)
        is left to `open`, which refuses or looks it up as it does for a single event."""
        wanted: set[uuid.UUID] = set()
        for envelope in envelopes:
            try:
                who = sealed_person(envelope.payload)
            except SealBroken:
                continue
            if who is not None and who[1] is not None and who[1] not in wanted:
                cached, _ = self.cache.get(who[1])
                if not cached:
                    wanted.add(who[1])
        if not wanted:
            return
        rows = await reader.fetch(
            "SELECT key_id, person_id, wrapped_key FROM vault.people WHERE key_id = ANY($1)",
            list(wanted),
        )
        for row in rows:
            try:
                key = (
                    None
                    if row["wrapped_key"] is None
                    else self._unwrap(row["key_id"], bytes(row["wrapped_key"]))
                )
            except MasterKeyMismatch:
                continue
            self.cache.put(row["key_id"], row["person_id"], key)

    # events

    async def _person_and_key(
        self, conn: Connection, envelope: Envelope
    ) -> tuple[uuid.UUID, uuid.UUID | None, bytes | None]:
        """Whose the event is and their key, in one round trip: the payload's person, else the
        person recorded for its case, submission or stream (in that order), else a new one;
        the event's subjects are recorded for them as it goes."""
        payload = envelope.payload
        subjects = _subjects(envelope)
        given = payload.get("person_id")
        assert len(subjects) <= 3  # what _FOUND_PERSON_AND_KEY looks up
        if given:
            row = await conn.fetchrow(
                _GIVEN_PERSON_AND_KEY,
                uuid.UUID(str(given)),
                [s for s, _ in subjects],
                [kind for _, kind in subjects],
            )
        else:
            row = await conn.fetchrow(
                _FOUND_PERSON_AND_KEY,
                [s for s, _ in subjects],
                [kind for _, kind in subjects],
                uuid.uuid4(),  # personal text on a stream nobody has claimed yet: a new person
            )
        assert row is not None
        person_id: uuid.UUID = row["person_id"]
        if row["key_id"] is None:  # no key made for this person yet
            return person_id, *await self._key_for_sealing(conn, person_id)
        return person_id, *self._sealing_key(person_id, row)

    async def seal(
        self, conn: Connection, envelopes: Sequence[Envelope], *, at_once: bool = False
    ) -> list[Envelope]:
        """The envelopes as they may be stored and published: personal fields sealed.
        ``at_once``: the events are likely about people already known (letters about open
        cases, say), so try finding them all in one go first (`_people_at_once`)."""
        personal = [
            env
            for env in envelopes
            if personal_paths(env.event_type)
            and SEALED not in env.payload
            and extract(env.payload, personal_paths(env.event_type))
        ]
        known = None
        if at_once and len(personal) > 1:
            known = await self._people_at_once(conn, personal)
        out = []
        for env in envelopes:
            if not personal_paths(env.event_type) or SEALED in env.payload:
                out.append(env)
                continue
            if not extract(env.payload, personal_paths(env.event_type)):
                out.append(env)
                continue
            if known is not None:
                person_id, key_id, key = known[env.event_id]
            else:
                person_id, key_id, key = await self._person_and_key(conn, env)
            payload = seal_payload(
                env.event_type,
                env.event_id,
                env.payload,
                person_id=person_id,
                key_id=key_id,
                key=key,
            )
            out.append(env.model_copy(update={"payload": payload}))
        return out

    async def _people_at_once(
        self, conn: Connection, envelopes: Sequence[Envelope]
    ) -> dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID | None, bytes | None]] | None:
        """`_person_and_key` for several events in two round trips instead of one each (a
        batch of letters, say), when that gives what one at a time would: every event's
        person is its payload's or already recorded for its first subject, and has a key row.
        Then no event's subjects recorded before it could have chosen another person. None
        otherwise (a new person, a key still to make): the caller goes one at a time."""
        firsts = [_subjects(env)[0][0] for env in envelopes]
        givens = [env.payload.get("person_id") for env in envelopes]
        rows = await conn.fetch(
            _PEOPLE_AT_ONCE,
            [uuid.UUID(str(g)) if g else None for g in givens],
            firsts,
        )
        if any(r["person_id"] is None or r["key_id"] is None for r in rows):
            return None
        recorded = [
            (subject, kind, r["person_id"])
            for env, r in zip(envelopes, rows, strict=True)
            for subject, kind in _subjects(env)
        ]
        await conn.execute(
            """INSERT INTO vault.subjects (subject_id, kind, person_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[])
               ON CONFLICT (subject_id) DO NOTHING""",
            [s for s, _, _ in recorded],
            [k for _, k, _ in recorded],
            [p for _, _, p in recorded],
        )
        return {
            env.event_id: (r["person_id"], *self._sealing_key(r["person_id"], r))
            for env, r in zip(envelopes, rows, strict=True)
        }

    async def open(self, reader: Reader, envelope: Envelope) -> Envelope:
        """The envelope with its personal fields readable, or placeholders once erased."""
        who = sealed_person(envelope.payload)
        if who is None:
            return envelope
        _, key_id = who
        key = None if key_id is None else await self.key(reader, key_id)
        payload = open_payload(envelope.event_type, envelope.event_id, envelope.payload, key)
        return envelope.model_copy(update={"payload": payload})

    # people

    async def find_person(self, reader: Reader, who: str) -> uuid.UUID | None:
        """A person by id, or by an email address or phone number they gave."""
        try:
            person_id = uuid.UUID(who)
        except ValueError:
            digests = (
                self.contact_digests(who, None) if "@" in who else self.contact_digests(None, who)
            )
            if not digests:
                return None
            found = await reader.fetchval(
                "SELECT person_id FROM vault.contacts WHERE digest = $1", digests[0]
            )
            return found if isinstance(found, uuid.UUID) else None
        exists = await reader.fetchval(
            "SELECT true FROM vault.people WHERE person_id = $1", person_id
        )
        return person_id if exists else None

    async def person(self, reader: Reader, person_id: uuid.UUID) -> PersonRecord | None:
        row = await reader.fetchrow(
            "SELECT person_id, created_at, erased_at, erasure_reason FROM vault.people "
            "WHERE person_id = $1",
            person_id,
        )
        if row is None:
            return None
        subjects = await reader.fetch(
            "SELECT subject_id, kind FROM vault.subjects WHERE person_id = $1 ORDER BY subject_id",
            person_id,
        )
        return PersonRecord(
            person_id=row["person_id"],
            created_at=row["created_at"],
            erased_at=row["erased_at"],
            erasure_reason=row["erasure_reason"],
            case_ids=[uuid.UUID(r["subject_id"]) for r in subjects if r["kind"] == "case"],
            submission_ids=[
                uuid.UUID(r["subject_id"]) for r in subjects if r["kind"] == "submission"
            ],
            streams=[r["subject_id"] for r in subjects if r["kind"] == "stream"],
        )

    async def destroy_key(
        self, conn: Connection, person_id: uuid.UUID, *, reason: str, now: datetime
    ) -> bool:
        """Forget the person's key and their blind-index entries. False if already erased."""
        erased_now = await conn.fetchval(
            """UPDATE vault.people SET wrapped_key = NULL, erased_at = $2, erasure_reason = $3
               WHERE person_id = $1 AND erased_at IS NULL RETURNING true""",
            person_id,
            now,
            reason,
        )
        await conn.execute("DELETE FROM vault.contacts WHERE person_id = $1", person_id)
        self.cache.forget_person(person_id)
        return bool(erased_now)


#: each event's person (its payload's, else its first subject's) and key row, in the given order
_PEOPLE_AT_ONCE = """
SELECT coalesce(e.given, s.person_id) AS person_id, p.key_id, p.wrapped_key
FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS e(given, first_subject, ord)
LEFT JOIN vault.subjects s ON s.subject_id = e.first_subject
LEFT JOIN vault.people p ON p.person_id = coalesce(e.given, s.person_id)
ORDER BY e.ord
"""

#: Two statements, not one with the payload's person as an optional parameter: with one, the
#: plan for a given person (the lookup by subject folded away) looks far cheaper than a plan
#: for any person, and under load PostgreSQL was seen planning it afresh on every call (about
#: 0.27 ms each) instead of reusing a plan. Each of these has one plan that suits every call.
#: $1 the payload's person, $2/$3 the event's subjects and their kinds
_GIVEN_PERSON_AND_KEY = """
WITH claimed AS (
    INSERT INTO vault.subjects (subject_id, kind, person_id)
    SELECT s.subject_id, s.kind, $1::uuid
    FROM unnest($2::text[], $3::text[]) AS s(subject_id, kind)
    ON CONFLICT (subject_id) DO NOTHING
)
SELECT $1::uuid AS person_id, people.key_id, people.wrapped_key
FROM (VALUES (1)) AS one LEFT JOIN vault.people ON people.person_id = $1::uuid
"""

#: $1/$2 the event's subjects and their kinds in order of precedence, $3 a fresh person id for
#: when nobody is known
_FOUND_PERSON_AND_KEY = """
WITH chosen AS (
    SELECT coalesce(
        (SELECT person_id FROM vault.subjects
         -- an event has at most three subjects (`_subjects`); = ANY of the array would be
         -- planned for the array's length on every call
         WHERE subject_id IN (($1::text[])[1], ($1::text[])[2], ($1::text[])[3])
         ORDER BY array_position($1::text[], subject_id) LIMIT 1),
        $3::uuid) AS person_id
), claimed AS (
    INSERT INTO vault.subjects (subject_id, kind, person_id)
    SELECT s.subject_id, s.kind, chosen.person_id
    FROM unnest($1::text[], $2::text[]) AS s(subject_id, kind), chosen
    ON CONFLICT (subject_id) DO NOTHING
)
SELECT chosen.person_id, people.key_id, people.wrapped_key
FROM chosen LEFT JOIN vault.people ON people.person_id = chosen.person_id
"""

_current: Vault | None = None


def _subjects(envelope: Envelope) -> list[tuple[str, str]]:
    """What an event is about, as the vault records subjects: its case, its submission and
    its stream, in the order a person is looked for."""
    payload = envelope.payload
    subjects = [
        (str(payload[k]), kind)
        for k, kind in (("case_id", "case"), ("submission_id", "submission"))
        if payload.get(k) is not None
    ]
    subjects.append((envelope.stream_id, "stream"))
    return subjects


def configure(data_dir: Path | None = None) -> Vault:
    """Make the process's vault from the master key (env or the data dir's file)."""
    global _current
    _current = Vault(master_key(data_dir))
    return _current


def current() -> Vault:
    """The process's vault, made from the default data dir on first use if nothing set it."""
    return _current if _current is not None else configure()
