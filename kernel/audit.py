"""The audit log: every state change with its actor, time and before/after, in a hash chain.

Each service (and the gateway) owns an `audit_log` table in its own database. Rows are written
by the session itself, in the transaction of the change they describe, so an accepted write
and its audit record commit or roll back together and no code path can forget one:

- ORM changes are read from the unit of work after each flush (new, changed, deleted objects,
  with the attribute history SQLAlchemy keeps for exactly this purpose);
- the few Core statements (bulk inserts, conditional updates, upserts, deletes) are read
  around their execution: the rows they will touch before, the same rows after.

The chain is sealed afterwards, like the outbox's sequence: a sealer gives each committed row
the next `seq` and `hash = sha256(prev_hash + canonical record)`. Sealing in the write
transaction would make every writer of the service queue on the chain's head; sealing after
commit keeps writers independent, and a row waits about a second to be sealed. A sealed row
that is edited, deleted or moved breaks the chain at that link, which `verify` reports:

    python -m kernel.audit verify permits            # the service's configured database
    python -m kernel.audit verify gateway --database-url sqlite+aiosqlite:///var/gateway.db

Who acted is taken from context variables: the verified token's principal for a request,
`event:<source>` for a consumed event, `system` for the service's own scheduled jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import enum
import hashlib
import importlib
import logging
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from kernel.db import JSONDoc, SessionFactory, UTCDateTime, make_engine, utcnow

log = logging.getLogger("kernel.audit")

AUDIT_TABLE = "audit_log"
CHAIN_HEAD = "audit_chain"
GENESIS = "0" * 64

# Kernel bookkeeping is not a state change of the domain: the outbox and inbox already are
# append-only records, and auditing the audit table would never end.
NOT_AUDITED = frozenset(
    {
        AUDIT_TABLE,
        CHAIN_HEAD,
        "outbox_events",
        "kernel_counters",
        "kernel_leases",
        "inbox_events",
        "source_cursors",
        "dead_letters",
        "idempotency_keys",
        "alembic_version",
    }
)
# Secrets never leave their table, not even hashed: the audit log is read by more people.
_SECRET_MARKERS = ("secret", "password", "private_key", "token_hash", "key_hash")

actor_var: ContextVar[str | None] = ContextVar("audit_actor", default=None)
via_var: ContextVar[str | None] = ContextVar("audit_via", default=None)

_tables: dict[int, sa.Table] = {}


def audit_table(metadata: sa.MetaData) -> sa.Table:
    """Declare (once per metadata) the audit table; sessions then audit that metadata's tables."""
    key = id(metadata)
    if key in _tables:
        return _tables[key]
    table = sa.Table(
        AUDIT_TABLE,
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        # Assigned by the sealer, in sealing order: the chain's order.
        sa.Column("seq", sa.BigInteger(), nullable=True, unique=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("via", sa.String(300), nullable=True),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_key", sa.String(300), nullable=False),
        sa.Column("before", JSONDoc, nullable=True),
        sa.Column("after", JSONDoc, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
    )
    sa.Index("ix_audit_log_unsealed", table.c.seq, table.c.id)
    sa.Index("ix_audit_log_entity", table.c.entity, table.c.entity_key)
    # The chain's head: one row, the last sealed link. Updating it takes its row lock, so
    # two sealers (two replicas) take turns and each continues from the other's last link.
    sa.Table(
        CHAIN_HEAD,
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    _tables[key] = table
    return table


def _head_of(audit: sa.Table) -> sa.Table:
    return audit.metadata.tables[CHAIN_HEAD]


# --- who and how ----------------------------------------------------------------------------


def set_actor(actor: str) -> None:
    """Name who acts for the rest of this context (a request's task, an event's apply)."""
    actor_var.set(actor[:200])


@contextlib.contextmanager
def acting(actor: str, via: str | None = None) -> Iterator[None]:
    """Run a block on behalf of `actor` (and `via` what), restoring the previous values after."""
    a = actor_var.set(actor[:200])
    v = via_var.set(via[:300] if via else None)
    try:
        yield
    finally:
        actor_var.reset(a)
        via_var.reset(v)


# --- values as the log stores them ----------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-native form that reads back identical from JSON and JSONB (the hash depends on it)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) > 256:
            return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        return {"base64": base64.b64encode(raw).decode()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return str(value)


def _is_secret(column: str) -> bool:
    name = column.lower()
    return any(marker in name for marker in _SECRET_MARKERS)


def _row_doc(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for column in table.columns:
        if column.key in values:
            value = values[column.key]
            secret = value is not None and _is_secret(column.key)
            doc[column.key] = "[redacted]" if secret else _plain(value)
    return doc


def _key_of(table: sa.Table, values: dict[str, Any]) -> str:
    parts = [_plain(values.get(c.key)) for c in table.primary_key.columns]
    return orjson.dumps(parts[0] if len(parts) == 1 else parts).decode()[:300]


# --- capture --------------------------------------------------------------------------------


def _entry(action: str, table: sa.Table, key: str, before: Any, after: Any) -> dict[str, Any]:
    return {
        "at": utcnow(),
        "actor": actor_var.get() or "system",
        "via": via_var.get(),
        "action": action,
        "entity": table.name,
        "entity_key": key,
        "before": before,
        "after": after,
    }


def _audited(table: Any) -> sa.Table | None:
    """The audit table for rows of `table`, or None when that table is not audited."""
    if not isinstance(table, sa.Table) or table.name in NOT_AUDITED:
        return None
    return _tables.get(id(table.metadata))


def _write(connection: Connection, audit: sa.Table, entries: list[dict[str, Any]]) -> None:
    if entries:
        connection.execute(sa.insert(audit), entries)


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    by_audit: dict[int, tuple[sa.Table, list[dict[str, Any]]]] = {}

    def add(audit: sa.Table, entry: dict[str, Any]) -> None:
        by_audit.setdefault(id(audit), (audit, []))[1].append(entry)

    for obj in session.new:
        state = sa.inspect(obj)
        table = state.mapper.local_table
        audit = _audited(table)
        if audit is None:
            continue
        values = _loaded(state)
        for column in table.columns:
            # Given no value and no server default, the column was inserted as NULL.
            if column.key not in values and column.server_default is None:
                values[column.key] = None
        add(audit, _entry("insert", table, _key_of(table, values), None, _row_doc(table, values)))
    for obj in session.dirty:
        state = sa.inspect(obj)
        table = state.mapper.local_table
        audit = _audited(table)
        if audit is None or not state.modified:
            continue
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        current: dict[str, Any] = {}
        for attr, column in _column_attrs(state.mapper):
            history = state.attrs[attr.key].history
            if attr.key in state.dict:
                current[column.key] = state.dict[attr.key]
            if history.added or history.deleted:
                before[column.key] = history.deleted[0] if history.deleted else None
                after[column.key] = history.added[0] if history.added else None
        if not after:
            continue
        add(
            audit,
            _entry(
                "update",
                table,
                _key_of(table, current),
                _row_doc(table, before),
                _row_doc(table, after),
            ),
        )
    for obj in session.deleted:
        state = sa.inspect(obj)
        table = state.mapper.local_table
        audit = _audited(table)
        if audit is None:
            continue
        values = _loaded(state)
        add(audit, _entry("delete", table, _key_of(table, values), _row_doc(table, values), None))
    if by_audit:
        connection = session.connection()
        for audit, entries in by_audit.values():
            _write(connection, audit, entries)


def _loaded(state: Any) -> dict[str, Any]:
    # Only what is loaded: reading an expired attribute here would query in mid-flush.
    loaded = state.dict
    return {c.key: loaded[a.key] for a, c in _column_attrs(state.mapper) if a.key in loaded}


def _column_attrs(mapper: Any) -> Iterator[tuple[Any, sa.Column[Any]]]:
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if isinstance(column, sa.Column) and column.table is mapper.local_table:
            yield attr, column


def _do_orm_execute(state: ORMExecuteState) -> Any:
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    statement: Any = state.statement
    audit = _audited(statement.table)
    if audit is None:
        return None
    # The plain table, not the ORM-annotated one: selecting it must give rows, not entities.
    table = audit.metadata.tables[statement.table.name]
    session = state.session
    pk = list(table.primary_key.columns)

    def rows(where: Any) -> list[dict[str, Any]]:
        result = session.connection().execute(sa.select(table).where(where))
        return [dict(r._mapping) for r in result]

    if state.is_insert:
        return _core_insert(state, session, table, audit, pk, rows)
    where = statement.whereclause if statement.whereclause is not None else sa.true()
    before = rows(where)
    result = state.invoke_statement()
    entries: list[dict[str, Any]] = []
    if state.is_delete:
        for row in before:
            entries.append(_entry("delete", table, _key_of(table, row), _row_doc(table, row), None))
    elif before:
        keys = [tuple(row[c.key] for c in pk) for row in before]
        after = {tuple(r[c.key] for c in pk): r for r in rows(sa.tuple_(*pk).in_(keys))}
        for row in before:
            now = after.get(tuple(row[c.key] for c in pk))
            if now is None:
                continue
            changed = [k for k in now if now[k] != row.get(k)]
            if changed:
                entries.append(
                    _entry(
                        "update",
                        table,
                        _key_of(table, now),
                        _row_doc(table, {k: row.get(k) for k in changed}),
                        _row_doc(table, {k: now[k] for k in changed}),
                    )
                )
    _write(session.connection(), audit, entries)
    return result


def _core_insert(
    state: ORMExecuteState,
    session: Session,
    table: sa.Table,
    audit: sa.Table,
    pk: list[sa.Column[Any]],
    rows: Any,
) -> Any:
    statement: Any = state.statement
    params = state.parameters
    if isinstance(params, list) and params:
        values_list = [dict(p) for p in params]
    else:
        compiled = statement.compile(dialect=session.get_bind().dialect)
        values_list = [
            {c.key: compiled.params[c.key] for c in table.columns if c.key in compiled.params}
        ]
    upsert = getattr(statement, "_post_values_clause", None) is not None
    before: dict[tuple[Any, ...], dict[str, Any]] = {}
    if upsert and all(c.key in values_list[0] for c in pk):
        keys = [tuple(v[c.key] for c in pk) for v in values_list]
        before = {tuple(r[c.key] for c in pk): r for r in rows(sa.tuple_(*pk).in_(keys))}
    result = state.invoke_statement()
    entries = []
    for values in values_list:
        key = tuple(values.get(c.key) for c in pk)
        old = before.get(key)
        if old is None:
            entries.append(
                _entry("insert", table, _key_of(table, values), None, _row_doc(table, values))
            )
            continue
        changed = [k for k in values if k in old and values[k] != old[k]]
        if changed:
            entries.append(
                _entry(
                    "update",
                    table,
                    _key_of(table, values),
                    _row_doc(table, {k: old[k] for k in changed}),
                    _row_doc(table, {k: values[k] for k in changed}),
                )
            )
    _write(session.connection(), audit, entries)
    return result


class AuditedSession(Session):
    """The sync session behind every service session: it writes the audit log as it flushes."""


event.listen(AuditedSession, "after_flush", _after_flush)
event.listen(AuditedSession, "do_orm_execute", _do_orm_execute)


# --- the chain ------------------------------------------------------------------------------


def record_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The link's hash: the previous hash, then the record in canonical JSON (sorted keys)."""
    at = row["at"]
    doc = {
        "seq": row["seq"],
        "at": at.isoformat() if isinstance(at, datetime) else at,
        "actor": row["actor"],
        "via": row["via"],
        "action": row["action"],
        "entity": row["entity"],
        "entity_key": row["entity_key"],
        "before": row["before"],
        "after": row["after"],
    }
    canonical = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical).hexdigest()


async def seal(factory: SessionFactory, audit: sa.Table, batch: int = 500) -> int:
    """Link up to `batch` committed, unsealed rows to the chain; returns how many were sealed."""
    head_table = _head_of(audit)
    async with factory() as session, session.begin():
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        upsert = insert(head_table).values(id=1, seq=0, hash=GENESIS)
        # A no-op update, for its row lock: taken before reading which rows are unsealed.
        head = (
            await session.execute(
                upsert.on_conflict_do_update(
                    index_elements=[head_table.c.id], set_={"seq": head_table.c.seq}
                ).returning(head_table.c.seq, head_table.c.hash)
            )
        ).one()
        pending = (
            await session.execute(
                sa.select(audit).where(audit.c.seq.is_(None)).order_by(audit.c.id).limit(batch)
            )
        ).all()
        if not pending:
            return 0
        seq, prev = int(head.seq), str(head.hash)
        links: list[dict[str, Any]] = []
        for row in pending:
            seq += 1
            doc = dict(row._mapping)
            doc["seq"] = seq
            digest = record_hash(prev, doc)
            links.append({"row_id": row.id, "new_seq": seq, "new_prev": prev, "new_hash": digest})
            prev = digest
        await session.execute(
            sa.update(audit)
            .where(audit.c.id == sa.bindparam("row_id"))
            .values(
                seq=sa.bindparam("new_seq"),
                prev_hash=sa.bindparam("new_prev"),
                hash=sa.bindparam("new_hash"),
            ),
            links,
        )
        await session.execute(
            sa.update(head_table).where(head_table.c.id == 1).values(seq=seq, hash=prev)
        )
        return len(pending)


class AuditSealer:
    """Background task: seal the audit log every `poll_seconds` (and drain a backlog at once)."""

    def __init__(
        self,
        service: str,
        factory: SessionFactory,
        audit: sa.Table,
        poll_seconds: float = 1.0,
    ) -> None:
        self.service = service
        self._factory = factory
        self._audit = audit
        self._poll = poll_seconds
        self.last_error: str | None = None

    async def run(self) -> None:
        while True:
            try:
                sealed = await seal(self._factory, self._audit)
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The rows wait unsealed; nothing is lost, the next round retries.
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: sealing the audit log failed: %s", self.service, exc)
                sealed = 0
            if sealed < 500:
                await asyncio.sleep(self._poll)


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: sealed links checked, rows awaiting a seal, the first broken link."""

    checked: int
    unsealed: int
    broken_at: int | None = None
    row_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "unsealed": self.unsealed,
            "broken_at_seq": self.broken_at,
            "row_id": self.row_id,
            "reason": self.reason,
        }


async def verify(engine: AsyncEngine, audit: sa.Table, page: int = 2000) -> ChainReport:
    """Walk the chain in `seq` order and recompute every link; stop at the first broken one."""
    checked = 0
    prev = GENESIS
    expected = 1
    async with engine.connect() as conn:
        unsealed = int(
            await conn.scalar(sa.select(sa.func.count()).where(audit.c.seq.is_(None))) or 0
        )
        last = 0
        while True:
            rows = (
                await conn.execute(
                    sa.select(audit).where(audit.c.seq > last).order_by(audit.c.seq).limit(page)
                )
            ).all()
            if not rows:
                return ChainReport(checked, unsealed)
            for row in rows:
                doc = dict(row._mapping)
                seq = int(doc["seq"])
                if seq != expected:
                    return ChainReport(
                        checked, unsealed, expected, None, f"link {expected} is missing"
                    )
                if doc["prev_hash"] != prev:
                    return ChainReport(
                        checked, unsealed, seq, doc["id"], "prev_hash does not match link before"
                    )
                if record_hash(prev, doc) != doc["hash"]:
                    return ChainReport(
                        checked, unsealed, seq, doc["id"], "record changed after it was sealed"
                    )
                prev = doc["hash"]
                expected += 1
                checked += 1
                last = seq


# --- command --------------------------------------------------------------------------------


def _service_audit(service: str) -> sa.Table:
    from kernel.migrate import package

    models = importlib.import_module(f"{package(service)}.models")
    # The models declared it (via kernel.audit, not this module when run as __main__).
    metadata: sa.MetaData = models.Base.metadata
    return metadata.tables[AUDIT_TABLE]


def _database_url(service: str) -> str:
    from kernel.migrate import package

    config = importlib.import_module(f"{package(service)}.config")
    return str(config.get_settings().database_url)


async def _verify_command(service: str, url: str) -> ChainReport | None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            present = await conn.run_sync(lambda c: sa.inspect(c).has_table(AUDIT_TABLE))
        if not present:
            return None
        return await verify(engine, _service_audit(service))
    finally:
        await engine.dispose()


SERVICES = ("permits", "credit", "inspection", "insurance", "gateway")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernel.audit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="verify a service's audit chain")
    check.add_argument(
        "service", choices=["permits", "credit", "inspection", "insurance", "gateway"]
    )
    check.add_argument("--database-url", help="default: the service's configured database")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    url = args.database_url or _database_url(args.service)
    missing = url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists()
    report = None if missing else asyncio.run(_verify_command(args.service, url))
    if report is None:
        print(
            f"{args.service}: no audit log at {url}: start the service or run `make migrate` first",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(orjson.dumps(report.as_dict()).decode())
    elif report.ok:
        print(
            f"{args.service}: audit chain intact: {report.checked} links verified, "
            f"{report.unsealed} awaiting their seal"
        )
    else:
        print(
            f"{args.service}: audit chain BROKEN at link {report.broken_at}"
            f" (row id {report.row_id}): {report.reason};"
            f" {report.checked} links before it verified",
            file=sys.stderr,
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
