"""Shared reading of the Al Kamel CSV exports: encoding, BOM, separator, header clean-up.

Pure functions of the file's bytes; the file name is only used in error messages.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from race.errors import ParseError, one_line, shorten

BOM = b"\xef\xbb\xbf"
_BLANK = re.compile(rb"\s*")  # fullmatch stops at the first non-blank byte
_SPACE_LINE = re.compile(rb"(?m)^[ \t]+(\r?)$")
# Blocks read in parallel by pyarrow's CSV reader (rows never span lines in these exports).
_BLOCK_BYTES = 1 << 20


def decode_check(data: bytes, source: str, *, check_utf8: bool = True) -> bytes:
    """Return the bytes without BOM after checking they are non-empty UTF-8 text.

    Args:
        check_utf8: decode the whole file to check it is UTF-8 (skip it when the CSV reader
            checks anyway and calls ``utf8_check`` on failure).

    Raises:
        ParseError: empty, binary (NUL bytes) or not UTF-8, naming the line.
    """
    if data.startswith(BOM):
        data = data[len(BOM):]
    if _BLANK.fullmatch(data):
        raise ParseError("the file is empty", source=source)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError("UTF-16 text, not UTF-8: save the file as UTF-8", source=source,
                         line=1)
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ParseError("binary content (NUL byte): not a CSV text file", source=source,
                         line=line)
    if check_utf8:
        utf8_check(data, source)
    # A results site's error page or a feed's payload saved under a .csv name.
    start = data.lstrip()[:1]
    if start == b"<":
        raise ParseError("an HTML/XML page, not a CSV export (an error page or the "
                         "folder's index saved instead of the file?)", source=source, line=1)
    if start in (b"{", b"["):
        raise ParseError("a JSON document, not a CSV export (the JSON twin of the file?)",
                         source=source, line=1)
    return data


def utf8_check(data: bytes, source: str) -> None:
    """Raise a ParseError naming the line of the first byte that is not UTF-8, if any."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as "
                         "UTF-8", source=source, line=line) from None


def sniff_separator(header: bytes, source: str) -> str:
    """The separator of an Al Kamel export: ``;`` at the source, ``,`` in some copies."""
    semis, commas = header.count(b";"), header.count(b",")
    if max(semis, commas) < 3:
        raise ParseError("header has no ';' or ',' separated column names", source=source,
                         line=1)
    return ";" if semis >= commas else ","


def _normalise_lines(data: bytes) -> bytes:
    """Old-Mac CR-only line ends become LF; lines of spaces or tabs only become blank."""
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")
    # Cheap gate first: rows start with NUMBER, so a line starting blank is rare.
    if (b"\n " in data or b"\n\t" in data) and _SPACE_LINE.search(data):
        data = _SPACE_LINE.sub(rb"\1", data)
    return data


def _row_lines(data: bytes) -> tuple[np.ndarray, bool]:
    """The 1-based physical line on which each data row starts, and whether some quoted
    field spans lines. Blank lines hold no row (the CSV reader skips them) and the lines
    that continue a quoted field start none. Quotes are paired by parity (a quote inside an
    unquoted field breaks it: ``_csv_row_lines`` then decides)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(data)]))
    length = ends - starts
    at = np.minimum(starts, max(len(buf) - 1, 0))
    blank = (length == 0) | ((length == 1) & (buf[at] == 13)) if len(buf) else length == 0
    inside = np.zeros(len(starts), dtype=bool)
    if b'"' in data:
        quotes = np.flatnonzero(buf == 34)
        inside = np.searchsorted(quotes, starts) % 2 == 1
    row = ~blank & ~inside
    row[0] = False  # the header
    return np.flatnonzero(row) + 1, bool(inside.any())


def _csv_row_lines(data: bytes, sep: str) -> np.ndarray:
    """The start line of each data row as Python's csv module reads the file (slow path)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""),
                        delimiter=sep)
    lines, previous = [], 0
    try:
        for record in reader:
            if record:
                lines.append(previous + 1)
            previous = reader.line_num
    except csv.Error:
        pass
    return np.array(lines[1:], dtype=np.int64)


def _read_short_rows(data: bytes, sep: str, names: list[str], source: str,
                     ) -> tuple[pa.Table, np.ndarray]:
    """Python csv path for small files whose rows stop after their last filled field."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=sep)
    columns: list[list[str]] = [[] for _ in names]
    lines: list[int] = []
    previous = 0
    try:
        for record in reader:
            line, previous = previous + 1, reader.line_num
            if line == 1 or not any(v.strip() for v in record):
                continue
            if len(record) > len(names):
                raise ParseError(f"{len(record)} fields where the header has {len(names)}",
                                 source=source, line=line)
            record = record + [""] * (len(names) - len(record))
            for col, value in zip(columns, record, strict=True):
                col.append(value)
            lines.append(line)
    except csv.Error as exc:
        raise ParseError(f"unreadable CSV: {exc}", source=source,
                         line=reader.line_num or None) from None
    table = pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(names, columns,
                                                                       strict=True)})
    return table, np.array(lines, dtype=np.int64)


def _arrow_read(data: bytes, sep: str, names: list[str], multiline: bool,
                on_invalid: Callable[[pacsv.InvalidRow], str], block: int) -> pa.Table:
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(block_size=block, column_names=names, skip_rows=1),
        parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_invalid,
                                          newlines_in_values=multiline),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
            check_utf8=True),
    )


def read_text_table(data: bytes, source: str, *, allow_short_rows: bool = False,
                    ) -> tuple[pa.Table, np.ndarray]:
    """Read a separator-terminated CSV export into an all-string Arrow table.

    Header names are stripped of spaces; the empty column made by the trailing separator is
    dropped. Returns the table and each row's 1-based physical line number (right with blank
    lines, CRLF and quoted fields spanning lines). CR-only line ends and lines of spaces are
    read as the plain file. ``allow_short_rows``: rows may stop early (IMSA results omit
    empty driver blocks); the missing fields are empty. Meant for small files (it reads row
    by row).

    Raises:
        ParseError: not text, no header, or a row with the wrong number of fields.
    """
    data = _normalise_lines(decode_check(data, source, check_utf8=allow_short_rows))
    first_nl = data.find(b"\n")
    header = data if first_nl < 0 else data[:first_nl]
    sep = sniff_separator(header, source)
    utf8_check(header, source)
    raw_names = next(csv.reader([header.decode("utf-8").rstrip("\r")], delimiter=sep))
    names = [n.strip() or f"_unnamed_{i}" for i, n in enumerate(raw_names)]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        listed = ", ".join(n if len(n) <= 30 else shorten(n, 30) for n in dup[:5])
        raise ParseError(f"duplicated column name(s) {listed}", source=source, line=1)
    if allow_short_rows:
        table, lines = _read_short_rows(data, sep, names, source)
        return table.select([n for n in names if not n.startswith("_unnamed_")]), lines
    bad_rows: list[tuple[str, int, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    lines, multiline = _row_lines(data)
    try:
        try:
            table = _arrow_read(data, sep, names, multiline, on_invalid, _BLOCK_BYTES)
        except pa.ArrowInvalid as exc:
            if "straddle" not in str(exc):
                raise
            # A row longer than a block (a 10 MB field): read the file as one block.
            bad_rows.clear()
            table = _arrow_read(data, sep, names, multiline, on_invalid, len(data) + 1)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        utf8_check(data, source)  # the reader checks UTF-8 too, without naming the line
        raise ParseError(f"unreadable CSV: {one_line(str(exc), 120)}", source=source,
                         ) from None
    if bad_rows:
        # Blocks are read in parallel: report the first bad row in file order.
        located = []
        for text, expected, actual in bad_rows[:100]:
            offset = data.find(text.encode("utf-8")) if text else -1
            located.append((offset if offset >= 0 else len(data), expected, actual))
        offset, expected, actual = min(located)
        number = data[:offset].count(b"\n") + 1 if offset < len(data) else None
        raise ParseError(f"{actual} fields where the header has {expected} "
                         f"(truncated row or wrong separator?); {len(bad_rows)} such row(s)",
                         source=source, line=number)
    if len(lines) != table.num_rows:  # a quote inside an unquoted field fooled the parity
        lines = _csv_row_lines(data, sep)
        if len(lines) != table.num_rows:
            lines = np.arange(2, table.num_rows + 2)
    # Drop the empty column made by the trailing separator (and any other unnamed one).
    table = table.select([n for n in names if not n.startswith("_unnamed_")])
    return table, lines
