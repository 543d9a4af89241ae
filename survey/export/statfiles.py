"""SPSS (.sav) and Stata (.dta) exports written at constant memory (issue 14, item 4).

pyreadstat writes a .sav or .dta from one whole DataFrame and cannot append rows, so
:class:`survey.export.core._SavWriter` and ``_DtaWriter`` keep every row until the end.
The writers here keep one chunk at a time and still let pyreadstat do all the encoding:

1. ``write()`` marks a chunk's "not applicable" and "not shown" cells as the in-memory
   writers do (``mark_na``), notes what pyreadstat infers from the values (the largest
   UTF-8 byte length of every text column, the Python type of the values of object
   columns) and appends the chunk to a private spool file beside the output (pickle:
   it keeps every dtype as it was, including object columns that mix numbers with
   Stata's ``"a"``/``"b"`` codes, which Arrow cannot hold). The spool is created 0600
   and its name removed at once: it is written and read back through one open handle
   only, so nobody else can read or replace it, and it vanishes when closed (also if
   the process dies).
2. ``close()`` reads the chunks back one at a time and has the parent class write each
   to a temporary *piece* file, with exactly the arguments of the in-memory export
   (labels, value labels, missing codes, measure levels, formats, file label). Each
   piece starts with a *template row* whose text cells have their column's largest byte
   width over all chunks (and whose object cells carry a value of the type seen in the
   whole data), so every piece gets the same variable types and string widths, i.e.
   the same dictionary and the same fixed row width as the file written from all rows
   at once. The template row's bytes are dropped and the pieces' data rows are joined:

   * **sav** (uncompressed, as pyreadstat writes it): the dictionary records (parsed
     here: types 2, 3/4, 6, 7 and the 999 terminator; the PSPP "System File Format"
     documentation) are followed by the data, ``rows x slots x 8`` bytes, where the
     slots are the type-2 records (very long strings, > 255 bytes, are several
     segments, each with its records and slots, so they splice like any string). The
     case count is patched in the header (int32 at offset 80) and in the extension
     record 7/16 (int64).
   * **dta** (release 118, as pyreadstat writes ``version=14``): ``<data>`` holds
     fixed-width rows; ``<N>`` and the ``<map>`` offsets of the sections after the data
     (``<strls>``, ``<value_labels>``, ``</stata_dta>``, end of file) are patched.
     A text of 2,045 UTF-8 bytes or more makes its column a strL (e.g. an open text of
     682 or more three-byte characters): a data cell then holds a reference (v, o) to
     the string object (GSO) stored in ``<strls>`` with the variable v and observation
     o of the text's first occurrence. The references of each piece are moved by the
     rows before it (the template row's objects dropped; a kept row that refers to the
     template row, i.e. a text equal to the template's, falls back, below), and the
     pieces' objects are gathered in a second nameless temporary file, then written
     after the data. readstat writes them sorted by observation, so the joined list
     is sorted too. Such a file is not byte for byte the in-memory writer's (that one
     stores a text repeated in several chunks once, the pieces once per chunk); it
     reads back the same (tests).

   Every piece's dictionary is compared with the first one (bytes equal apart from the
   case count and the creation time); if one differs (not seen with the export frames),
   the file is written again by the in-memory writer rather than joined wrongly.

Apart from dta strLs, the result is byte for byte the file the in-memory writer makes
from the same chunks, except the creation timestamp (``tests/export/test_statfiles.py``).
A missing text in a dta strL column is written as "" (what Stata shows for a missing
text anyway): pyreadstat 1.3.8 cannot write a missing strL value, and the in-memory
``core._DtaWriter`` fails on such data ("A registered string reference was never
inserted into any row").

Not streamed (the in-memory writer writes the file from the spool; ``constant_memory``
is then False, so say the manifest and the CLI, and ``fallback_reason`` says why):
frames that pyreadstat could type differently chunk by chunk (object columns mixing
value types, categoricals, chunks whose dtypes differ, text columns with user-missing
codes), a piece whose dictionary differs from the first, and a dta strL text equal to
the template row's. The export frames of :mod:`survey.export.core` have none of these.

Disk: the spool holds the pickled chunks (about the frames' size in memory, some
280 MB at 1,000,000 rows), dta strLs a second nameless file, and one piece file exists
at a time; all are deleted at the end.

Wiring: ``core._WRITERS`` names these classes through a function that imports this
module on first use (this module imports ``core``, so ``core`` must not import it at
module level)::

    def _streamed(name: str) -> Callable[..., _Writer]:
        def make(*args: Any) -> _Writer:
            from survey.export import statfiles

            return getattr(statfiles, name)(*args)

        return make

    _WRITERS = {..., "sav": _streamed("StreamedSavWriter"),
                "dta": _streamed("StreamedDtaWriter")}
"""

from __future__ import annotations

import contextlib
import pickle
import re
import struct
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from survey.export import core

#: pyreadstat stores a dta text of this many UTF-8 bytes or more as a strL
DTA_STRL_BYTES = 2045
_COPY_BLOCK = 1 << 20


class SpliceError(RuntimeError):
    """A piece written by pyreadstat does not have the layout the splicing relies on."""


# ----- what pyreadstat infers from the values ---------------------------------------
class _Profile:
    """What pyreadstat's type inference (``get_narwhals_column_types``) depends on,
    gathered chunk by chunk: per text column the largest UTF-8 byte length, per object
    column the types of its values (nulls and user-missing codes left out, as pyreadstat
    leaves them out)."""

    def __init__(self, user_missing: dict[str, list[str]]):
        self.user_missing = user_missing
        self.dtypes: tuple | None = None
        self.text_bytes: dict[str, int] = {}  # -1: no value seen yet
        self.object_types: dict[str, dict[type, Any]] = {}
        self.reason: str | None = None  # why this export cannot be streamed

    def observe(self, frame: pd.DataFrame) -> None:
        dtypes = tuple(str(t) for t in frame.dtypes)
        if self.dtypes is None:
            self.dtypes = dtypes
        elif dtypes != self.dtypes and self.reason is None:
            self.reason = "the chunks' column types differ"
        for name in frame.columns:
            s = frame[name]
            if isinstance(s.dtype, pd.CategoricalDtype):
                self.reason = self.reason or f"column {name!r} is categorical"
            elif s.dtype == object:
                self._observe_object(name, s)
            elif pd.api.types.is_string_dtype(s.dtype):
                if name in self.user_missing:  # pyreadstat would drop those codes first
                    self.reason = self.reason or f"text column {name!r} has user-missing codes"
                self.text_bytes[name] = max(self.text_bytes.get(name, -1), _max_bytes(s))

    def _observe_object(self, name: str, s: pd.Series) -> None:
        values = s[s.notna()]
        missing = self.user_missing.get(name)
        if missing:
            values = values[~values.isin(missing)]
        seen = self.object_types.setdefault(name, {})
        arr = values.to_numpy()
        for t in set(map(type, arr)) - set(seen):
            seen[t] = next(v for v in arr if type(v) is t)
        if len(seen) > 1:
            self.reason = self.reason or f"column {name!r} mixes {sorted(t.__name__ for t in seen)}"
        elif str in seen:
            self.text_bytes[name] = max(self.text_bytes.get(name, -1), _max_bytes(values))
        elif seen and not {int, float, bool} & set(seen):
            self.reason = self.reason or f"column {name!r} holds {next(iter(seen)).__name__}"

    def template(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """A one-row frame, the dtypes of ``chunk``, whose values make pyreadstat infer
        for (template + any chunk) the types and widths it infers for all rows."""
        row = chunk.iloc[[0]].reset_index(drop=True)
        for name, width in self.text_bytes.items():
            row[name] = pd.Series(["x" * width if width > 0 else None], dtype=row[name].dtype)
        for name, seen in self.object_types.items():
            if str in seen or not seen:
                continue  # text (above) or only missing values: the chunk decides alike
            value = next(iter(seen.values()))
            row[name] = pd.Series([value], dtype=object)
        for name, seen in self.object_types.items():
            if not seen:  # only nulls and user-missing codes in the whole data
                row[name] = pd.Series([np.nan], dtype=object)
        return row


def _max_bytes(s: pd.Series) -> int:
    """The largest UTF-8 byte length of a text column's values (-1 when all missing)."""
    values = s[s.notna()]
    if not len(values):
        return -1
    if values.dtype != object:  # a pandas string dtype: count bytes in Arrow
        import pyarrow as pa
        import pyarrow.compute as pc

        return int(pc.max(pc.binary_length(pa.array(values.array))).as_py())
    return max(len(str(v).encode("utf-8")) for v in values)


# ----- the writers -------------------------------------------------------------------
class _Streamed(ABC):
    """Mixin over :class:`core._SavWriter` / :class:`core._DtaWriter`: spool the chunks,
    have the parent write each as a piece, splice the pieces (see the module docstring)."""

    constant_memory = True
    fallback_reason: str | None = None

    def __init__(self, *a):
        super().__init__(*a)
        self.profile = _Profile(self._user_missing_of())
        self.rows = 0
        self.chunk_count = 0
        self._pending: pd.DataFrame | None = None
        self._piece = core._temp(self.path, ".piece")
        spool = core._temp(self.path, ".spool")
        try:
            # read back through this handle only: the name is removed at once, so the
            # pickled chunks can be neither read nor replaced by anyone else, and
            # nothing is left behind if the process dies
            self._spool_fh: BinaryIO | None = open(spool, "w+b")  # noqa: SIM115 - closed in close/abort
        finally:
            spool.unlink()

    def _user_missing_of(self) -> dict[str, list[str]]:
        return {}

    def write(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        frame = self.mark_na(frame)
        self.profile.observe(frame)
        pickle.dump(frame, self._spool_fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.rows += len(frame)
        self.chunk_count += 1

    def frame(self) -> pd.DataFrame:
        if self._pending is not None:
            df, self._pending = self._pending, None
            return df
        return super().frame()

    def _chunks(self):
        f = self._spool_fh
        assert f is not None
        f.seek(0)
        for _ in range(self.chunk_count):
            yield pickle.load(f)  # our own spool, written above, reachable by no name

    def close(self) -> None:
        if self._spool_fh is None:
            return
        try:
            reason = self.profile.reason or self._not_streamable()
            if self.rows == 0:
                super().close()  # the empty file, as the in-memory writer writes it
                return
            if reason is None:
                try:
                    self._write_streamed()
                    return
                except SpliceError as e:
                    reason = str(e)
            self._write_in_memory(reason)
        finally:
            self._remove_temps()

    def _write_in_memory(self, reason: str) -> None:
        """The in-memory writer's file from the spooled chunks, said in ``constant_memory``
        (the export's manifest) and ``fallback_reason``."""
        self.constant_memory = False
        self.fallback_reason = reason
        self.chunks = list(self._chunks())
        super().close()

    def abort(self) -> None:
        self._remove_temps()

    def _remove_temps(self) -> None:
        if self._spool_fh is not None:
            self._spool_fh.close()
            self._spool_fh = None
        with contextlib.suppress(FileNotFoundError):
            self._piece.unlink()

    def _not_streamable(self) -> str | None:
        return None

    def _write_piece(self, chunk: pd.DataFrame, template: pd.DataFrame) -> None:
        """The parent's ``close()`` writes template + chunk to the piece file."""
        self._pending = pd.concat([template, chunk], ignore_index=True)
        final, self.path = self.path, self._piece
        try:
            super().close()
        finally:
            self.path, self._pending = final, None

    def _write_streamed(self) -> None:
        template = None
        first: _Layout | None = None
        done = 0
        with open(self.path, "wb") as out:
            for chunk in self._chunks():
                if template is None:
                    template = self.profile.template(chunk)
                n = len(chunk)
                self._write_piece(chunk, template)
                del chunk
                with open(self._piece, "rb") as piece:
                    layout = self._layout(piece, n + 1)
                    if first is None:
                        first = layout
                        out.write(layout.head)
                    else:
                        first.check_same(layout)
                    piece.seek(layout.data_start + layout.row_bytes)
                    self._copy_rows(piece, out, layout, n, done)
                    self._after_piece(piece, layout, done)
                done += n
            assert first is not None
            self._finish(out, first, self.rows)

    def _copy_rows(self, piece: BinaryIO, out: BinaryIO, layout: _Layout, n: int, done: int):
        """Copy a piece's ``n`` data rows (after the template row); ``done`` rows precede."""
        _copy(piece, out, n * layout.row_bytes)

    def _after_piece(self, piece: BinaryIO, layout: _Layout, done: int) -> None:  # noqa: B027
        """Keep what else of a piece the file needs (default: nothing; dta: its strLs)."""

    # format-specific: where a format keeps its data, and how a joined file ends
    @abstractmethod
    def _layout(self, f: BinaryIO, rows: int) -> _Layout:
        """Where the data of a piece file of ``rows`` rows lies."""

    @abstractmethod
    def _finish(self, out: BinaryIO, first: _Layout, rows: int) -> None:
        """Write what follows the joined data and set the row count in ``out``."""


def _copy(src: BinaryIO, dst: BinaryIO, n: int) -> None:
    while n > 0:
        block = src.read(min(n, _COPY_BLOCK))
        if not block:
            raise SpliceError("a piece file ended before its data")
        dst.write(block)
        n -= len(block)


class _Layout:
    """A piece file: everything before its data (``head``), the data's place and row
    width, everything after it (``tail``), and the byte ranges of ``head`` that
    legitimately differ between pieces (case counts, creation time)."""

    def __init__(
        self,
        head: bytes,
        data_start: int,
        row_bytes: int,
        tail: bytes,
        volatile: Sequence[tuple[int, int]],
        fields: dict[str, int],
    ):
        self.head, self.data_start, self.row_bytes, self.tail = head, data_start, row_bytes, tail
        self.volatile, self.fields = list(volatile), fields

    def _masked(self) -> bytes:
        b = bytearray(self.head)
        for start, end in self.volatile:
            b[start:end] = bytes(end - start)
        return bytes(b)

    def check_same(self, other: _Layout) -> None:
        if (
            other.row_bytes != self.row_bytes
            or other.data_start != self.data_start
            or other.tail != self.tail
            or other._masked() != self._masked()
        ):
            raise SpliceError(
                "pyreadstat wrote a chunk with another dictionary than the first chunk's "
                "(variable types or widths differ); cannot join them"
            )


class StreamedSavWriter(_Streamed, core._SavWriter):
    """SPSS .sav, uncompressed, one chunk in memory at a time."""

    def _layout(self, f: BinaryIO, rows: int) -> _Layout:
        return _sav_layout(f, rows)

    def _finish(self, out: BinaryIO, first: _Layout, rows: int) -> None:
        out.write(first.tail)
        o = first.fields["order"]
        out.seek(80)
        out.write(struct.pack(o + "i", rows if rows <= 2**31 - 1 else -1))
        if "ncases64" in first.fields:
            out.seek(first.fields["ncases64"])
            out.write(struct.pack(o + "q", rows))


class StreamedDtaWriter(_Streamed, core._DtaWriter):
    """Stata .dta (118), one chunk in memory at a time, texts of 2,045 bytes or more
    (strL) included: their (variable, observation) references are renumbered and the
    pieces' string objects (GSOs) gathered in a second nameless spool."""

    _strls: BinaryIO | None = None

    def _user_missing_of(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {i: [core.NA_STATA] for i in self.na_items}
        for i in self.hidden_items:
            out.setdefault(i, []).append(core.NOT_SHOWN_STATA)
        return out

    def frame(self) -> pd.DataFrame:
        """As the parent's, but a missing text in a strL column is written as "" (what
        Stata and every reader show for a missing text anyway): pyreadstat 1.3.8 fails
        on a missing value in a strL column ("A registered string reference was never
        inserted into any row"), so such a dta export could not be written at all."""
        df = super().frame()
        for name, width in self.profile.text_bytes.items():
            if width >= DTA_STRL_BYTES and name in df and df[name].isna().any():
                df[name] = df[name].fillna("")
        return df

    def _layout(self, f: BinaryIO, rows: int) -> _Layout:
        return _dta_layout(f, rows)

    def _copy_rows(self, piece: BinaryIO, out: BinaryIO, layout: _Layout, n: int, done: int):
        cells = layout.fields["strl_cells"]
        if not cells:
            _copy(piece, out, n * layout.row_bytes)
            return
        step = max(1, _COPY_BLOCK // layout.row_bytes)
        for start in range(0, n, step):
            k = min(step, n - start)
            block = piece.read(k * layout.row_bytes)
            if len(block) != k * layout.row_bytes:
                raise SpliceError("a piece file ended before its data")
            rows = np.frombuffer(block, dtype=np.uint8).reshape(k, layout.row_bytes).copy()
            for off in cells:  # (v: 2 bytes, o: 6 bytes), little-endian; (0, 0) = missing
                cell = rows[:, off : off + 8]
                o = np.zeros(k, dtype=np.uint64)
                for b in range(6):
                    o |= cell[:, 2 + b].astype(np.uint64) << np.uint64(8 * b)
                v = cell[:, 0].astype(np.uint64) | (cell[:, 1].astype(np.uint64) << np.uint64(8))
                used = (o != 0) | (v != 0)
                if (used & (o == 1)).any():
                    raise SpliceError("a strL value refers to the template row")
                o[used] -= np.uint64(1)  # o >= 2 here: the template row was o = 1
                o[used] += np.uint64(done)
                for b in range(6):
                    cell[:, 2 + b] = ((o >> np.uint64(8 * b)) & np.uint64(0xFF)).astype(np.uint8)
                rows[:, off : off + 8] = cell
            out.write(rows.tobytes())

    def _after_piece(self, piece: BinaryIO, layout: _Layout, done: int) -> None:
        """Append the piece's GSOs but the template row's to the strL spool, their
        observation numbers moved by the rows before this piece (readstat writes them
        sorted by observation, so the joined list stays sorted)."""
        start, end = layout.fields["strls"]
        if end - start == len(b"<strls></strls>"):
            return
        if self._strls is None:
            self._strls = tempfile.TemporaryFile(dir=self.path.parent)
        piece.seek(start + len(b"<strls>"))
        stop = end - len(b"</strls>")
        while piece.tell() < stop:
            head = piece.read(20)  # "GSO", v uint32, o uint64, t uint8, len uint32
            if len(head) != 20 or head[:3] != b"GSO":
                raise SpliceError("dta strL section not as expected")
            v, o, t, length = struct.unpack("<IQBI", head[3:])
            if o == 1:
                piece.seek(length, 1)  # the template row's
                continue
            self._strls.write(b"GSO" + struct.pack("<IQBI", v, o - 1 + done, t, length))
            _copy(piece, self._strls, length)
        if piece.tell() != stop:
            raise SpliceError("dta strL section not as expected")

    def _finish(self, out: BinaryIO, first: _Layout, rows: int) -> None:
        o = first.fields["order"]
        out.write(b"</data>")
        strls = out.tell()
        out.write(b"<strls>")
        if self._strls is not None:
            self._strls.seek(0)
            while block := self._strls.read(_COPY_BLOCK):
                out.write(block)
        out.write(b"</strls>")
        labels = out.tell()
        out.write(first.tail)
        end = out.tell()
        out.seek(first.fields["n_pos"])
        out.write(struct.pack(o + "Q", rows))
        mp = first.fields["map_pos"]
        offsets = list(struct.unpack(o + "14Q", first.head[mp : mp + 14 * 8]))
        old_labels = offsets[11]
        offsets[10], offsets[11] = strls, labels  # <strls>, <value_labels>
        offsets[12] += labels - old_labels  # </stata_dta>
        offsets[13] = end
        out.seek(mp)
        out.write(struct.pack(o + "14Q", *offsets))

    def _remove_temps(self) -> None:
        if self._strls is not None:
            self._strls.close()
            self._strls = None
        super()._remove_temps()


# ----- sav layout (PSPP documentation, "System File Format") ----------------------
def _sav_layout(f: BinaryIO, rows: int) -> _Layout:
    head = bytearray(f.read(176))
    if len(head) < 176 or head[:4] != b"$FL2":
        raise SpliceError("not an uncompressed-format SPSS system file ($FL2)")
    order = "<" if struct.unpack_from("<i", head, 64)[0] in (2, 3) else ">"
    compression = struct.unpack_from(order + "i", head, 72)[0]
    if compression != 0:
        raise SpliceError(f"sav piece is compressed ({compression}); splicing needs 0")

    def ints(n: int) -> tuple[int, ...]:
        b = f.read(4 * n)
        if len(b) != 4 * n:
            raise SpliceError("sav dictionary ends early")
        head.extend(b)
        return struct.unpack(order + f"{n}i", b)

    def skip(n: int) -> None:
        b = f.read(n)
        if len(b) != n:
            raise SpliceError("sav dictionary ends early")
        head.extend(b)

    slots = 0
    fields: dict[str, int] = {"order": order}
    volatile = [(80, 84), (92, 109)]  # case count; creation date and time
    while True:
        (rec,) = ints(1)
        if rec == 2:
            _width, has_label, n_missing, _print, _write = ints(5)
            skip(8)  # name
            if has_label:
                (length,) = ints(1)
                skip((length + 3) // 4 * 4)
            skip(abs(n_missing) * 8)
            slots += 1
        elif rec == 3:
            (count,) = ints(1)
            for _ in range(count):
                skip(8)
                b = f.read(1)
                head.extend(b)
                skip((b[0] + 1 + 7) // 8 * 8 - 1)
            rec4, n = ints(2)
            if rec4 != 4:
                raise SpliceError("sav value labels (type 3) without their variables (type 4)")
            skip(4 * n)
        elif rec == 6:
            (lines,) = ints(1)
            skip(80 * lines)
        elif rec == 7:
            subtype, size, count = ints(3)
            if subtype == 16 and size == 8 and count == 2:
                fields["ncases64"] = len(head) + 8
                volatile.append((len(head) + 8, len(head) + 16))
            skip(size * count)
        elif rec == 999:
            ints(1)
            break
        else:
            raise SpliceError(f"unknown sav record type {rec}")
    data_start = len(head)
    row_bytes = slots * 8
    f.seek(0, 2)
    if f.tell() - data_start != rows * row_bytes:
        raise SpliceError(
            f"sav data is {f.tell() - data_start} bytes, expected {rows} x {row_bytes}"
        )
    return _Layout(bytes(head), data_start, row_bytes, b"", volatile, fields)


# ----- dta layout (Stata's dta 118 description) ------------------------------------
_DTA_HEAD = re.compile(rb"<release>(11[89])</release><byteorder>(LSF|MSF)</byteorder><K>")


def _dta_layout(f: BinaryIO, rows: int) -> _Layout:
    start = f.read(4096)
    m = _DTA_HEAD.search(start)
    if m is None:
        raise SpliceError("not a Stata 118/119 file")
    order = "<" if m.group(2) == b"LSF" else ">"
    k_bytes = 2 if m.group(1) == b"118" else 4
    n_pos = m.end() + k_bytes + len(b"</K><N>")
    if start[n_pos - 3 : n_pos] != b"<N>":
        raise SpliceError("dta header: <N> not where expected")
    (n,) = struct.unpack_from(order + "Q", start, n_pos)
    if n != rows:
        raise SpliceError(f"dta piece has {n} rows, expected {rows}")
    map_pos = start.index(b"<map>") + len(b"<map>")
    offsets = struct.unpack_from(order + "14Q", start, map_pos)
    f.seek(0, 2)
    size = f.tell()
    if offsets[13] != size:
        raise SpliceError("dta map does not end at the end of the file")
    data_start = offsets[9] + len(b"<data>")
    data_end = offsets[10] - len(b"</data>")
    f.seek(0)
    head = f.read(data_start)
    f.seek(data_end)
    if not head.endswith(b"<data>") or f.read(14) != b"</data><strls>":
        raise SpliceError("dta <data> and <strls> sections not where the map says")
    f.seek(offsets[11] - len(b"</strls>"))
    if f.read(len(b"</strls>")) != b"</strls>":
        raise SpliceError("dta <strls> section not where the map says")
    tail = f.read()  # <value_labels> ... </stata_dta>
    if (data_end - data_start) % rows:
        raise SpliceError("dta data is not a whole number of rows")
    # the data cells of strL variables (type 32768: 8 bytes, v then o)
    k = struct.unpack_from(order + ("H" if k_bytes == 2 else "I"), start, m.end())[0]
    types = struct.unpack_from(order + f"{k}H", head, offsets[2] + len(b"<variable_types>"))
    cells, pos = [], 0
    for t in types:
        if t == 32768:
            cells.append(pos)
        width = {32768: 8, 65526: 8, 65527: 4, 65528: 4, 65529: 2, 65530: 1}.get(t, t)
        if not 1 <= width <= 2045:
            raise SpliceError(f"unknown dta variable type {t}")
        pos += width
    if cells and (order != "<" or k_bytes != 2):
        raise SpliceError("strL references are joined for dta 118 little-endian only")
    ts = head.find(b"<timestamp>")
    volatile = [(n_pos, n_pos + 8), (map_pos + 10 * 8, map_pos + 14 * 8)]
    if ts >= 0:
        volatile.append((ts, head.index(b"</timestamp>", ts)))
    row_bytes = (data_end - data_start) // rows
    if pos != row_bytes:
        raise SpliceError(f"dta rows are {row_bytes} bytes, the variable types say {pos}")
    fields = {
        "order": order,
        "n_pos": n_pos,
        "map_pos": map_pos,
        "rows": rows,
        "strls": (offsets[10], offsets[11]),
        "strl_cells": cells,
    }
    return _Layout(head, data_start, row_bytes, tail, volatile, fields)
