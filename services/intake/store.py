"""Intake's SQL, in one place."""

from __future__ import annotations

import uuid

import asyncpg

from contracts import FeedbackSubmitted
from redress.db import Connection


async def find_by_idempotency_key(conn: Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM submissions WHERE idempotency_key = $1", key)


async def get(conn: Connection | asyncpg.Pool, submission_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM submissions WHERE submission_id = $1", submission_id)


async def insert(
    conn: Connection,
    payload: FeedbackSubmitted,
    *,
    idempotency_key: str | None,
    recorded_at: object,
    correlation_id: uuid.UUID,
) -> None:
    await conn.execute(
        """INSERT INTO submissions (submission_id, idempotency_key, kind, channel,
               organisation_id, service_area, received_at, recorded_at, correlation_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        payload.submission_id,
        idempotency_key,
        payload.kind.value,
        payload.channel.value,
        payload.organisation_id,
        payload.service_area,
        payload.received_at,
        recorded_at,
        correlation_id,
    )
