"""Plain text tables: left-aligned columns two spaces apart, each as wide as its widest
cell, counting a wide (CJK) character as two columns and a combining mark as none.

mh-status's own, rather than tabulate's: importing tabulate (importlib.metadata,
dataclasses) took longer than everything else mh-status does.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Sequence


def render(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """The table as lines (no trailing spaces), headers first."""
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths)).rstrip() for row in cells)


def width(text: str) -> int:
    """How many terminal columns `text` takes."""
    if text.isascii():
        return len(text)
    from unicodedata import combining, east_asian_width

    return sum(0 if combining(ch) else 2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` terminal columns, ending in '...' when cut."""
    if width(text) <= limit:
        return text
    kept, used = [], 0
    for ch in text:
        used += width(ch)
        if used > limit - 3:
            break
        kept.append(ch)
    return "".join(kept) + "..."[: max(0, limit)]


def fit(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int, keep: Sequence[str],
        shrink: Sequence[tuple[str, int]], drop: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The columns that fit `max_width` terminal columns: those where every cell is empty
    or '-' go (but `keep`), then the `shrink` columns are cut, in order, down to their
    minimum widths, then the `drop` columns go, in order, until the table fits."""
    table = [[str(c) for c in row] for row in rows]
    columns = [i for i, name in enumerate(headers)
               if name in keep or any(row[i] not in ("", "-") for row in table)]

    def total() -> int:
        return sum(widths[i] for i in columns) + 2 * (len(columns) - 1)

    widths = {i: max([width(headers[i])] + [width(row[i]) for row in table]) for i in range(len(headers))}
    for name, least in shrink:
        if name in headers and headers.index(name) in columns and total() > max_width:
            i = headers.index(name)
            widths[i] = max(least, width(headers[i]), widths[i] - (total() - max_width))
    for name in drop:
        if total() <= max_width:
            break
        if name in headers and headers.index(name) in columns:
            columns.remove(headers.index(name))
    return ([headers[i] for i in columns],
            [[clip(row[i], widths[i]) for i in columns] for row in table])
