"""A query's rows as Arrow record batches, read in a child process through ADBC SQLite.

Python's ``sqlite3`` builds a tuple of Python objects per row; the ADBC SQLite driver
(``adbc-driver-sqlite``, Apache Arrow) fills Arrow columns in C, about twice as fast,
and the rows cross to the caller as an Arrow IPC stream, so the reading overlaps the
caller's own work on another core.

Why a child process: the driver bundles its own copy of SQLite. Two copies of SQLite
in one process break SQLite's POSIX advisory locks (closing one copy's descriptor of
the file drops the other's locks: https://www.sqlite.org/howtocorrupt.html, 2.2.1), and
the parent holds ``sqlite3`` connections. So the child opens only the read-only ADBC
connection and imports only pyarrow and the driver; this file is run as a script
(``python -I arrow_reader.py``), not as ``survey.storage.arrow_reader``, so that the
child does not import the ``survey`` package (Flask).

Types: the driver infers each column's type from its first batch of rows (a column all
NULL there becomes int64, and a later string is an error). The child therefore puts one
typed row (``0``, ``0.0``, ``''``) before the query's rows with ``UNION ALL`` and drops
it, and casts every batch to the declared types (``int64``, ``float64``, ``string``).

Snapshot: the child reads in one transaction; ``pre`` queries run first in it, and their
results come with the stream's schema (:attr:`ArrowRows.pre`), so a caller can check
that the child sees the data it expects (e.g. the same count as its own snapshot).

The child starts at once, and the caller may work meanwhile: the stream is opened when
first used (:attr:`ArrowRows.pre`, iteration). The child is ended on every path
(:meth:`ArrowRows.close`, also used by ``with``); its failures raise
:class:`ReaderError` in the parent with the child's message. If the parent dies, the
child's next write fails (broken pipe) and it exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

TYPES = ("int64", "float64", "string")
_LITERALS = {"int64": "0", "float64": "0.0", "string": "''"}
#: rows the driver reads per batch (and so looks at to infer types)
BATCH_ROWS = 50_000


class ReaderError(OSError):
    """The child process that reads the database failed (its message included)."""


class ArrowRows:
    """Rows of ``sql`` (with ``args``) in record batches of exactly ``chunk_rows`` rows
    (the last one fewer), fields ``names`` of ``types``, read by a child process from
    the database file ``path`` (opened read-only). ``pre``: ``(sql, args)`` queries run
    first in the child's read transaction; their rows are :attr:`pre`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        sql: str,
        args: Sequence[Any],
        names: Sequence[str],
        types: Sequence[str],
        chunk_rows: int,
        pre: Sequence[tuple[str, Sequence[Any]]] = (),
    ):
        bad = [t for t in types if t not in TYPES]
        if bad or len(names) != len(types):
            raise ValueError(f"column types must be {', '.join(TYPES)}, one per name: {types}")
        for a in [*args, *(x for _, pa_args in pre for x in pa_args)]:
            if a is not None and (isinstance(a, bool) or not isinstance(a, int | float | str)):
                raise ValueError(f"cannot bind {type(a).__name__} {a!r} (int, float, str, None)")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
        path = Path(path)
        if not path.is_file():
            raise ReaderError(f"database {str(path)!r} is not a file")
        request = {
            "uri": path.absolute().as_uri() + "?mode=ro",
            "sql": sql,
            "args": list(args),
            "names": list(names),
            "types": list(types),
            "chunk_rows": int(chunk_rows),
            "pre": [[q, list(a)] for q, a in pre],
        }
        self._err = tempfile.TemporaryFile()
        self._proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-I", __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            close_fds=True,
        )
        self._reader = None
        try:
            self._proc.stdin.write(json.dumps(request).encode("utf-8"))
            self._proc.stdin.close()
        except BaseException:
            self.close()
            raise

    def _open(self):
        """The IPC stream, opened on first use (waits for the child's first batch)."""
        if self._reader is None:
            import pyarrow as pa

            if self._proc is None:
                raise ReaderError("the reader is closed")
            try:
                self._reader = pa.ipc.open_stream(self._proc.stdout)
            except (pa.ArrowInvalid, OSError) as e:
                self._fail(e)
        return self._reader

    @property
    def pre(self) -> list[list[list[Any]]]:
        """The rows of each ``pre`` query, read in the child's transaction."""
        meta = self._open().schema.metadata or {}
        return json.loads(meta.get(b"trustmeter.pre", b"[]"))

    @property
    def schema(self):
        return self._open().schema

    def _fail(self, cause: BaseException | None = None) -> None:
        """Raise the child's error (waiting for it to end)."""
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        self._err.seek(0)
        text = self._err.read().decode("utf-8", "replace").strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        detail = lines[-1] if lines else (f"{cause}" if cause else "no message")
        raise ReaderError(f"reading the database failed (exit code {code}): {detail}") from cause

    def __iter__(self) -> Iterator:
        import pyarrow as pa

        while True:
            try:
                batch = self._open().read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as e:
                self._fail(e)
            yield batch
        if self._proc is not None and self._proc.wait() != 0:
            self._fail()

    def close(self) -> None:
        """End the child (killed if still running) and release its pipes."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            for f in (proc.stdin, proc.stdout):
                if f is not None and not f.closed:
                    f.close()
            proc.wait()
        self._err.close()

    def __enter__(self) -> ArrowRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----- the child -------------------------------------------------------------------
def _value_array(pa, value: Any):
    """A one-value Arrow array built from buffers (``pa.array`` would import pandas,
    which doubles the child's start)."""
    import struct

    if value is None:
        return pa.nulls(1)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"cannot bind {type(value).__name__} {value!r}")
    if isinstance(value, int):
        return pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(struct.pack("<q", value))])
    if isinstance(value, float):
        return pa.Array.from_buffers(
            pa.float64(), 1, [None, pa.py_buffer(struct.pack("<d", value))]
        )
    data = value.encode("utf-8")
    offsets = pa.py_buffer(struct.pack("<ii", 0, len(data)))
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])


def _bind(stmt, args: Sequence[Any]) -> None:
    import pyarrow as pa

    if args:
        arrays = [_value_array(pa, a) for a in args]
        stmt.bind(pa.RecordBatch.from_arrays(arrays, names=[f"p{i}" for i in range(len(args))]))


def _child() -> None:
    req = json.loads(sys.stdin.buffer.read())
    import adbc_driver_manager as adm
    import adbc_driver_sqlite
    import pyarrow as pa

    names, types, chunk_rows = req["names"], req["types"], req["chunk_rows"]
    schema = pa.schema([pa.field(n, getattr(pa, t)()) for n, t in zip(names, types, strict=True)])
    database = adbc_driver_sqlite.connect(req["uri"])
    conn = adm.AdbcConnection(database)
    conn.set_autocommit(False)  # one read transaction: the pre queries and the rows agree
    pre = []
    for sql, args in req["pre"]:
        stmt = adm.AdbcStatement(conn)
        stmt.set_sql_query(sql)
        _bind(stmt, args)
        stream, _ = stmt.execute_query()
        table = pa.RecordBatchReader._import_from_c(stream.address).read_all()
        pre.append([list(r.values()) for r in table.to_pylist()])
        stmt.close()
    typed = ", ".join(_LITERALS[t] for t in types)
    stmt = adm.AdbcStatement(conn)
    stmt.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
    stmt.set_sql_query(f"SELECT {typed} UNION ALL SELECT * FROM ({req['sql']})")
    _bind(stmt, req["args"])
    stream, _ = stmt.execute_query()
    reader = pa.RecordBatchReader._import_from_c(stream.address)
    plain = schema
    schema = schema.with_metadata({"trustmeter.pre": json.dumps(pre, default=str)})
    sink = pa.PythonFile(sys.stdout.buffer, mode="w")
    with pa.ipc.new_stream(sink, schema) as out:
        pending: list = []
        held = 0
        first = True
        for batch in reader:
            if first:  # the typed row
                batch, first = batch.slice(1), False
            if not batch.num_rows:
                continue
            batch = pa.RecordBatch.from_arrays(
                [c.cast(t) for c, t in zip(batch.columns, plain.types, strict=True)], schema=plain
            )
            pending.append(batch)
            held += batch.num_rows
            while held >= chunk_rows:
                table = pa.Table.from_batches(pending).combine_chunks()
                out.write_batch(table.slice(0, chunk_rows).to_batches()[0])
                rest = table.slice(chunk_rows)
                pending = rest.to_batches() if rest.num_rows else []
                held = rest.num_rows
        if held:
            out.write_batch(pa.Table.from_batches(pending).combine_chunks().to_batches()[0])
    if first:
        raise RuntimeError("the query returned no typed row")
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    try:
        _child()
    except BrokenPipeError:  # the parent stopped reading (closed, aborted or died)
        os._exit(1)
    except Exception as e:
        first = (str(e).splitlines() or [""])[0]  # the driver appends the whole query
        print(f"{type(e).__name__}: {first}", file=sys.stderr)
        sys.exit(1)
