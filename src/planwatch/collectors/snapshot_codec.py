"""Collector snapshots as bytes, so the cumulative counters a poll measured from outlive the
worker that took them (`storage.collector_state`): a worker that takes over a target, or one
restarted, computes its first deltas from the last stored snapshot and no interval is lost.

A numpy `.npz` archive (`allow_pickle=False` both ways: nothing in storage can
run code) of the counter matrix and the row keys, plus a small JSON header for the scalars.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from planwatch.collectors import deltas, mysql_deltas
from planwatch.collectors.pg_counters import Counters

FORMAT = 1


def encode_pg(snap: deltas.Snapshot) -> bytes:
    """Keys as one (dbid, userid, queryid, toplevel) int matrix, database names by code: a
    5,000-entry snapshot encodes in a few milliseconds."""
    codes: dict[str, int] = {}
    datnames = np.array([codes.setdefault(d, len(codes)) for d in snap.datnames], dtype=np.int32)
    gone = list(snap.vanished.items())
    header = {
        "engine": "postgresql", "at": snap.at.isoformat(),
        "started": _ts(snap.server.started), "stats_reset": _ts(snap.server.stats_reset),
        "dealloc": snap.server.dealloc, "names": list(snap.counters.names),
        "integers": sorted(snap.counters.integers), "databases": list(codes),
        "since": ([_ts(snap.stats_since(i)) for i in range(len(snap.counters.keys))]
                  if snap.has_stats_since() else None),
    }
    return _pack(header, values=snap.counters.values, keys=_entry_matrix(snap.counters.keys),
                 datnames=datnames, gone_keys=_entry_matrix([k for k, _ in gone]),
                 gone_at=np.array([t.timestamp() for _, t in gone], dtype=np.float64))


def decode_pg(data: bytes) -> deltas.Snapshot:
    header, a = _unpack(data, "postgresql")
    counters = Counters(_entries(a["keys"]), tuple(header["names"]), a["values"],
                        frozenset(header["integers"]))
    server = deltas.ServerIdentity(_dt(header["started"]), _dt(header["stats_reset"]),
                                   header["dealloc"])
    since = [_dt(x) for x in header["since"]] if header["since"] is not None else None
    vanished = {key: datetime.fromtimestamp(at, tz=UTC)
                for key, at in zip(_entries(a["gone_keys"]), a["gone_at"].tolist(), strict=True)}
    databases = header["databases"]
    return deltas.Snapshot.from_counters(datetime.fromisoformat(header["at"]), server, counters,
                                         [databases[c] for c in a["datnames"].tolist()], since,
                                         vanished)


def _entry_matrix(keys: Sequence[deltas.EntryId]) -> Any:
    return np.array(keys, dtype=np.int64).reshape(-1, 4)


def _entries(matrix: Any) -> list[deltas.EntryId]:
    return [(d, u, q, bool(t)) for d, u, q, t in matrix.tolist()]


def encode_mysql(snap: mysql_deltas.Snapshot) -> bytes:
    header = {
        "engine": "mysql", "at": snap.at.isoformat(), "uptime_s": snap.uptime_s,
        "digest_lost": snap.digest_lost, "overflow_calls": snap.overflow_calls,
        "names": list(snap.counters.names), "integers": sorted(snap.counters.integers),
        "first_seen": [None if x is None else str(x) for x in snap.first_seen],
        "schemas": [k.schema for k in snap.counters.keys],
    }
    return _pack(header, values=snap.counters.values,
                 digests=np.array([k.digest for k in snap.counters.keys], dtype=str))


def decode_mysql(data: bytes) -> mysql_deltas.Snapshot:
    header, a = _unpack(data, "mysql")
    keys = [mysql_deltas.DigestKey(schema, digest)
            for schema, digest in zip(header["schemas"], a["digests"].tolist(), strict=True)]
    counters = Counters(keys, tuple(header["names"]), a["values"],
                        frozenset(header["integers"]))
    return mysql_deltas.Snapshot(datetime.fromisoformat(header["at"]), header["uptime_s"],
                                 header["digest_lost"], counters, header["first_seen"],
                                 header["overflow_calls"])


def _pack(header: dict[str, Any], **arrays: Any) -> bytes:
    """Counter columns that are zero in every row (JIT, WAL, ... on most servers) are left out:
    the decoder gives them back as zeros."""
    values = arrays["values"]
    used = np.flatnonzero(values.any(axis=0)) if values.size else np.arange(values.shape[1])
    if len(used) < values.shape[1]:
        arrays["values"] = values[:, used]
        header = {**header, "columns": used.tolist()}
    out = io.BytesIO()
    meta = np.frombuffer(json.dumps({"format": FORMAT, **header}).encode(), dtype=np.uint8)
    np.savez(out, header=meta, **arrays)  # uncompressed: 2 ms for 5,000 entries, zlib 60
    return out.getvalue()


def _unpack(data: bytes, engine: str) -> tuple[dict[str, Any], Any]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays.pop("header").tobytes().decode())
    if header.get("format") != FORMAT or header.get("engine") != engine:
        raise ValueError(f"not a {engine} snapshot of format {FORMAT}")
    columns = header.get("columns")
    width = len(header["names"]) if columns is None else len(columns)
    stored = arrays["values"].reshape(len(arrays["values"]), width)
    if columns is None:
        arrays["values"] = stored
    else:
        values = np.zeros((len(stored), len(header["names"])))
        values[:, columns] = stored
        arrays["values"] = values
    return header, arrays


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None
