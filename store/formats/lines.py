"""Line-numbered, strictly decoded text reading, so every error can name FILE:LINE."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from store.errors import BadInput


def decoded_lines(path: Path) -> Iterator[str]:
    """Yield the file's lines as text; a byte sequence that is not UTF-8 names its line."""
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
            yield text


def table_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row as dict) of a delimited file with a header row.

    A row with a different number of fields than the header stops the read with FILE:LINE.
    """
    reader = csv.reader(decoded_lines(path), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise BadInput("the file is empty (expected a header row)", path, 1) from None
    header = [name.strip() for name in header]
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise BadInput(
                    f"expected {len(header)} fields as in the header, found {len(row)}",
                    path,
                    reader.line_num,
                )
            yield reader.line_num, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise BadInput(f"malformed row: {exc}", path, reader.line_num) from None


def header_of(path: Path, delimiter: str) -> list[str]:
    first = next(decoded_lines(path), "")
    return [name.strip() for name in next(csv.reader([first], delimiter=delimiter), [])]
