"""Line-numbered, strictly decoded text reading, so every error can name FILE:LINE."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from store.errors import BadInput
from store.validation import FIELD_TOO_LONG, MAX_FIELD_CHARS, NUL_MESSAGE


def decoded_lines(path: Path) -> Iterator[str]:
    """Yield the file's lines as text; a byte sequence that is not UTF-8, or a NUL, names its line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BadInput(f"cannot read file: {exc.strerror}", path) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path, number) from None
            if "\x00" in text:
                raise BadInput(NUL_MESSAGE, path, number)
            yield text


def table_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row as dict) of a delimited file with a header row.

    A row's line is the one it ends on (a quoted field may span lines; ``split_pair_file`` relies
    on it). Quoting is strict: a quote that is never closed (named on the line it opens on) or
    text after a closing quote stops the read with FILE:LINE, as does a row with a different
    number of fields than the header or a field over :data:`~store.validation.MAX_FIELD_CHARS`
    characters.
    """
    reader = csv.reader(decoded_lines(path), delimiter=delimiter, strict=True)
    start = 1
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise BadInput("the file is empty (expected a header row)", path, 1) from None
    except csv.Error as exc:
        raise _csv_error(exc, path, start, reader.line_num) from None
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _csv_error(exc, path, start, reader.line_num) from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        line = reader.line_num
        if len(row) != len(header):
            raise BadInput(f"expected {len(header)} fields as in the header, found {len(row)}", path, line)
        if max(map(len, row)) > MAX_FIELD_CHARS:
            raise BadInput(FIELD_TOO_LONG, path, line)
        yield line, dict(zip(header, row, strict=True))


def _csv_error(exc: csv.Error, path: Path, start: int, current: int) -> BadInput:
    """The csv module's complaint, at the line it concerns: an unclosed quote (or a field that
    runs on past the limit, which is what an unclosed quote looks like in a long file) on the line
    its row starts on, anything else on the line being read."""
    reason = str(exc)
    if "unexpected end of data" in reason:
        return BadInput("a quoted field opened on this line is never closed", path, start)
    if "field larger than field limit" in reason:
        return BadInput(FIELD_TOO_LONG + " (or a quote opened on this line is never closed)", path, start)
    return BadInput(f"malformed row: {reason}", path, current)


def header_of(path: Path, delimiter: str) -> list[str]:
    first = next(decoded_lines(path), "")
    return [name.strip() for name in next(csv.reader([first], delimiter=delimiter), [])]
