"""Shared reading of the Al Kamel CSV exports: encoding, BOM, separator, header clean-up.

Pure functions of the file's bytes; the file name is only used in error messages.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from race.errors import ParseError

BOM = b"\xef\xbb\xbf"
_BLANK = re.compile(rb"\s*")  # fullmatch stops at the first non-blank byte
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


def _read_short_rows(text: str, sep: str, names: list[str], source: str) -> pa.Table:
    """Python csv path for small files whose rows stop after their last filled field."""
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))[1:]
    columns: list[list[str]] = [[] for _ in names]
    for i, row in enumerate(rows):
        if len(row) > len(names):
            raise ParseError(f"{len(row)} fields where the header has {len(names)}",
                             source=source, line=i + 2)
        if not any(v.strip() for v in row):
            continue
        row = row + [""] * (len(names) - len(row))
        for col, value in zip(columns, row, strict=True):
            col.append(value)
    return pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(names, columns,
                                                                       strict=True)})


def read_text_table(data: bytes, source: str, *, allow_short_rows: bool = False,
                    ) -> tuple[pa.Table, np.ndarray]:
    """Read a separator-terminated CSV export into an all-string Arrow table.

    Header names are stripped of spaces; the empty column made by the trailing separator is
    dropped. Returns the table and each row's 1-based physical line number.
    ``allow_short_rows``: rows may stop early (IMSA results omit empty driver blocks); the
    missing fields are empty. Meant for small files (it reads row by row).

    Raises:
        ParseError: not text, no header, or a row with the wrong number of fields.
    """
    data = decode_check(data, source, check_utf8=allow_short_rows)
    first_nl = data.find(b"\n")
    header = data if first_nl < 0 else data[:first_nl]
    sep = sniff_separator(header, source)
    utf8_check(header, source)
    raw_names = next(csv.reader([header.decode("utf-8").rstrip("\r")], delimiter=sep))
    names = [n.strip() or f"_unnamed_{i}" for i, n in enumerate(raw_names)]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ParseError(f"duplicated column name(s) {', '.join(dup)}", source=source, line=1)
    if allow_short_rows:
        table = _read_short_rows(data.decode("utf-8"), sep, names, source)
        table = table.select([n for n in names if not n.startswith("_unnamed_")])
        return table, np.arange(2, table.num_rows + 2)
    bad_rows: list[tuple[str, int, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES, column_names=names,
                                           skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_invalid,
                                              newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
                check_utf8=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        utf8_check(data, source)  # the reader checks UTF-8 too, without naming the line
        raise ParseError(f"unreadable CSV: {str(exc).splitlines()[0]}", source=source) from None
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
    # Drop the empty column made by the trailing separator (and any other unnamed one).
    table = table.select([n for n in names if not n.startswith("_unnamed_")])
    lines = np.arange(2, table.num_rows + 2)
    return table, lines
