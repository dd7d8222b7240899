"""Read models written as values: a projection turns each event into a list of writes (pure, no
I/O), and those writes are either applied one at a time (`apply`, the statement each stands
for) or folded for a whole batch of events (`Fold`) and written with a few set-based statements
per table over unnested arrays. Both paths start from the same writes, so a read model rebuilt
in batches equals the one kept live, event by event.

How a batch folds, per table and key, so that rows end as applying the writes in order would
leave them:
- `Upsert`: each column ends with the last value set; a new row has its defaults elsewhere.
- `Count`: the numbers added up, the earliest of the times kept (``least`` skips nulls).
- `InsertNew` and `UpdateExisting`: a row already in the table before the batch takes every
  update and none of the inserts; a row the batch makes is its first insert with the updates
  that came after it (an update before it found nothing to change).
- `Latest`: the row with the greatest ``by`` value, the later one on a tie.
- `Statement`: applied as it is, in order, to a table nothing else in the batch writes.
A table takes one family of writes (upserts and counts; inserts and updates; latest rows) in a
batch; the fold refuses a mix, and the consumer then applies the batch event by event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redress.db import Connection


@dataclass(frozen=True)
class Upsert:
    """Set these columns of the row with this key, making the row if it is new."""

    table: str
    key: tuple[Any, ...]
    columns: dict[str, Any]


@dataclass(frozen=True)
class Count:
    """Add to numeric columns (``add``) and keep the earliest of times (``earliest``, a null
    changes nothing) of the row with this key, making the row if it is new."""

    table: str
    key: tuple[Any, ...]
    add: dict[str, int]
    earliest: dict[str, Any]


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
class Latest:
    """Make the row, or replace every column of the one with this key unless that one is
    newer by ``by`` (an older word arriving late changes nothing; an equal one replaces)."""

    table: str
    key: tuple[Any, ...]
    columns: dict[str, Any]
    by: str


@dataclass(frozen=True)
class Statement:
    """A write whose rows depend on their own state: applied as it is, one by one in log order,
    in both paths. Its table must be written by nothing else, so that its order against the
    folded writes does not matter."""

    table: str
    sql: str
    args: tuple[Any, ...]


Write = Upsert | Count | InsertNew | UpdateExisting | Latest | Statement

#: each table's key columns, in the order of its primary key
Keys = Mapping[str, tuple[str, ...]]


def _placeholders(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n))


# -- one write at a time ------------------------------------------------------------------------


async def apply(conn: Connection, keys: Keys, write: Write) -> None:
    """The statement a write stands for, alone."""
    match write:
        case Upsert(table, key, columns):
            names = [*keys[table], *columns]
            n = len(keys[table])
            await conn.execute(
                f"""INSERT INTO {table} ({", ".join(names)}) VALUES ({_placeholders(len(names))})
                    ON CONFLICT ({", ".join(keys[table])}) DO UPDATE SET
                    {", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=n + 1))}""",
                *key,
                *columns.values(),
            )
        case Count(table, key, add, earliest):
            names = [*keys[table], *add, *earliest]
            sets = [f"{c} = {table}.{c} + excluded.{c}" for c in add]
            sets += [f"{c} = least({table}.{c}, excluded.{c})" for c in earliest]
            await conn.execute(
                f"""INSERT INTO {table} ({", ".join(names)}) VALUES ({_placeholders(len(names))})
                    ON CONFLICT ({", ".join(keys[table])}) DO UPDATE SET {", ".join(sets)}""",
                *key,
                *add.values(),
                *earliest.values(),
            )
        case InsertNew(table, key, columns):
            names = [*keys[table], *columns]
            await conn.execute(
                f"""INSERT INTO {table} ({", ".join(names)}) VALUES ({_placeholders(len(names))})
                    ON CONFLICT ({", ".join(keys[table])}) DO NOTHING""",
                *key,
                *columns.values(),
            )
        case UpdateExisting(table, key, columns):
            n = len(keys[table])
            await conn.execute(
                f"""UPDATE {table}
                    SET {", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=n + 1))}
                    WHERE {" AND ".join(f"{k} = ${i}" for i, k in enumerate(keys[table], 1))}""",
                *key,
                *columns.values(),
            )
        case Latest(table, key, columns, by):
            names = [*keys[table], *columns]
            await conn.execute(
                f"""INSERT INTO {table} ({", ".join(names)}) VALUES ({_placeholders(len(names))})
                    ON CONFLICT ({", ".join(keys[table])}) DO UPDATE SET
                    {", ".join(f"{c} = excluded.{c}" for c in columns)}
                    WHERE {table}.{by} <= excluded.{by}""",
                *key,
                *columns.values(),
            )
        case Statement(_, sql, args):
            await conn.execute(sql, *args)


# -- a batch at once ----------------------------------------------------------------------------


@dataclass
class _TableFold:
    upserts: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    added: dict[tuple[Any, ...], dict[str, int]] = field(default_factory=dict)
    earliest: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    inserted: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    after_insert: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    updates: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    latest: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    latest_by: str = ""

    def families(self) -> int:
        return sum(
            (
                bool(self.upserts or self.added or self.earliest),
                bool(self.inserted or self.updates),
                bool(self.latest),
            )
        )


class Fold:
    """A batch's writes folded per table and key (see the module's docstring)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.tables: dict[str, _TableFold] = {}
        self.statements: list[Statement] = []

    def _table(self, name: str) -> _TableFold:
        return self.tables.setdefault(name, _TableFold())

    def add(self, write: Write) -> None:
        match write:
            case Upsert(table, key, columns):
                self._table(table).upserts.setdefault(key, {}).update(columns)
            case Count(table, key, add, earliest):
                t = self._table(table)
                added = t.added.setdefault(key, {})
                for column, n in add.items():
                    added[column] = added.get(column, 0) + n
                kept = t.earliest.setdefault(key, {})
                for column, value in earliest.items():
                    known = kept.get(column)
                    if known is None or (value is not None and value < known):
                        kept[column] = value
            case InsertNew(table, key, columns):
                t = self._table(table)
                if key not in t.inserted:
                    t.inserted[key] = dict(columns)
            case UpdateExisting(table, key, columns):
                t = self._table(table)
                t.updates.setdefault(key, {}).update(columns)
                if key in t.inserted:
                    t.after_insert.setdefault(key, {}).update(columns)
            case Latest(table, key, columns, by):
                t = self._table(table)
                if t.latest_by not in ("", by):
                    raise ValueError(f"{table}: latest rows by two columns")
                t.latest_by = by
                known = t.latest.get(key)
                if known is None or known[by] <= columns[by]:
                    t.latest[key] = dict(columns)
            case Statement():
                self.statements.append(write)

    async def write(self, conn: Connection) -> None:
        if any(s.table in self.tables for s in self.statements):
            raise ValueError("a table written statement by statement is also folded")
        for statement in self.statements:
            await conn.execute(statement.sql, *statement.args)
        for name, t in self.tables.items():
            if t.families() != 1:
                raise ValueError(f"{name}: writes of different kinds cannot be folded together")
            types = await column_types(conn, name)
            if t.latest:
                await self._write_latest(conn, name, types, t)
            elif t.inserted or t.updates:
                await self._write_inserts(conn, name, types, t)
            else:
                await self._write_upserts(conn, name, types, t)

    async def _write_upserts(
        self, conn: Connection, table: str, types: dict[str, str], t: _TableFold
    ) -> None:
        keys = self.keys[table]
        # rows in key order, so that two processes folding batches about the same rows lock
        # them in the same order rather than deadlock
        everyone = sorted(dict.fromkeys([*t.upserts, *t.added, *t.earliest]))
        # the rows the batch makes, with their defaults; then every row as the batch left it
        source, labels = _arrays(keys, types)
        await conn.execute(
            f"""INSERT INTO {table} {labels} SELECT * FROM {source}
                ON CONFLICT ({", ".join(keys)}) DO NOTHING""",
            *([key[i] for key in everyone] for i in range(len(keys))),
        )
        counted = sorted({c for row in [*t.added.values(), *t.earliest.values()] for c in row})
        if any(c in row for row in t.upserts.values() for c in counted):
            raise ValueError(f"{table}: a counted column is also set")
        columns = [c for c in types if c not in keys and c not in counted]
        rows = {key: t.upserts.get(key, {}) for key in everyone}
        extra: list[tuple[str, str, list[Any]]] = []
        extra_sets: list[str] = []
        for c in sorted({c for row in t.added.values() for c in row}):
            extra.append((f"add_{c}", "bigint", [t.added.get(k, {}).get(c, 0) for k in everyone]))
            extra_sets.append(f"{c} = t.{c} + d.add_{c}")
        for c in sorted({c for row in t.earliest.values() for c in row}):
            values = [t.earliest.get(k, {}).get(c) for k in everyone]
            extra.append((f"earliest_{c}", types[c], values))
            extra_sets.append(f"{c} = least(t.{c}, d.earliest_{c})")
        sql, args = _masked_update(keys, table, types, columns, rows, extra, extra_sets)
        await conn.execute(sql, *args)

    async def _write_inserts(
        self, conn: Connection, table: str, types: dict[str, str], t: _TableFold
    ) -> None:
        keys = self.keys[table]
        columns = [c for c in types if c not in keys]
        if t.updates:
            # rows there before the batch: every update (the batch's own rows are not made yet)
            rows = dict(sorted(t.updates.items()))
            sql, args = _masked_update(keys, table, types, columns, rows)
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
            sql, args = _masked_update(keys, table, types, columns, later)
            await conn.execute(sql, *args)

    async def _write_latest(
        self, conn: Connection, table: str, types: dict[str, str], t: _TableFold
    ) -> None:
        keys = self.keys[table]
        by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for key, row in sorted(t.latest.items()):
            by_shape.setdefault(tuple(row), []).append(key)
        for shape, shaped in by_shape.items():
            source, labels = _arrays([*keys, *shape], types)
            await conn.execute(
                f"""INSERT INTO {table} {labels} SELECT * FROM {source}
                    ON CONFLICT ({", ".join(keys)}) DO UPDATE SET
                    {", ".join(f"{c} = excluded.{c}" for c in shape)}
                    WHERE {table}.{t.latest_by} <= excluded.{t.latest_by}""",
                *([key[i] for key in shaped] for i in range(len(keys))),
                *([t.latest[key][c] for key in shaped] for c in shape),
            )


_TYPES: dict[str, dict[str, str]] = {}


async def column_types(conn: Connection, table: str) -> dict[str, str]:
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
    keys: tuple[str, ...],
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
