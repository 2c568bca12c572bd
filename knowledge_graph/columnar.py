"""Text formats (JSON Lines, GraphML) built column by column with Arrow kernels.

A million-edge snapshot must be written in seconds on two cores: a Python loop that builds
one dict and one string per row costs more than the whole budget. Here each column is
turned into text once — strings through their few distinct values, numbers by one cast
shared by every format — and the columns are joined row-wise by Arrow's string kernels;
the joined lines' data buffer is the file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc


def via_distinct(values: pa.Array, encode: Callable[[str], str]) -> pa.Array:
    """``encode`` applied to each distinct string once, then spread back over the rows."""
    encoded = values.dictionary_encode()
    table = pa.array([encode(s) for s in encoded.dictionary.to_pylist()], pa.string())
    return table.take(encoded.indices)


def json_string(s: str) -> str:
    return orjson.dumps(s).decode()


def _scalar_text(array: pa.Array, escape: Callable[[str], str]) -> pa.Array:
    kind = array.type
    if pa.types.is_string(kind):
        return via_distinct(array, escape)
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.cast(array, pa.string())  # shortest round-trip floats, "true"/"false"
    raise TypeError(f"no text form for Arrow type {kind}")


class TextColumns:
    """The text of a table's columns, each computed once: as JSON values and as XML text."""

    def __init__(self, table: pa.Table):
        self.table = table
        self._numbers: dict[str, pa.Array] = {}

    def column(self, name: str) -> pa.Array:
        array = self.table.column(name).combine_chunks()
        if array.null_count:
            raise ValueError(f"column {name} may not hold nulls")
        return array

    def _number(self, name: str, array: pa.Array) -> pa.Array:
        if name not in self._numbers:
            self._numbers[name] = _scalar_text(array, str)
        return self._numbers[name]

    def json(self, name: str) -> pa.Array:
        array = self.column(name)
        if pa.types.is_list(array.type):
            values = array.values
            inner = _scalar_text(values, json_string) if len(values) else pa.array([], pa.string())
            joined = pc.binary_join(pa.ListArray.from_arrays(array.offsets, inner), ",")
            return pc.binary_join_element_wise("[", joined, "]", "")
        if pa.types.is_string(array.type):
            return via_distinct(array, json_string)
        return self._number(name, array)

    def xml(self, name: str, escape: Callable[[str], str]) -> pa.Array:
        array = self.column(name)
        if pa.types.is_list(array.type):
            return via_distinct(pc.binary_join(array, ","), escape)
        if pa.types.is_string(array.type):
            return via_distinct(array, escape)
        return self._number(name, array)

    @cached_property
    def json_lines(self) -> pa.Array:
        """One JSON object per row (keys in column order), each line ending in a newline."""
        parts: list[pa.Array | str] = []
        for i, name in enumerate(self.table.column_names):
            parts += [("{" if i == 0 else ",") + json_string(name) + ":", self.json(name)]
        return pc.binary_join_element_wise(*parts, "}\n", "")


def write_lines(path: Path, lines: pa.Array, header: str = "", footer: str = "") -> None:
    """Write already-terminated lines as they lie in Arrow's data buffer (no per-row copy)."""
    lines = lines.cast(pa.large_string()) if lines.type == pa.string() else lines
    with path.open("wb") as out:
        out.write(header.encode())
        if len(lines):
            offsets = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, lines.buffers()[1]],
                                            offset=lines.offset)
            out.write(memoryview(lines.buffers()[2])[offsets[0].as_py() : offsets[-1].as_py()])
        out.write(footer.encode())
