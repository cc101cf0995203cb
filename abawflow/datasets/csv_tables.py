"""The organizers' CSV tables, read line by line so that an error names the file and the line."""

import csv
from pathlib import Path

from abawflow.core.errors import AnnotationFormatError, DatasetLayoutError


def table_rows(path, columns, expected, missing_file):
    """(line number, {column: stripped cell}) of each non-blank line of ``path``, whose header must hold
    ``columns`` (others are allowed; a byte-order mark is dropped). ``expected``: the header as an error
    shows it; ``missing_file``: what the file is, for the error when it is absent."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: {missing_file} is missing")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        missing = [column for column in columns if column not in header]
        if missing:
            raise AnnotationFormatError(
                f"{path}, line 1: the header lacks {', '.join(repr(column) for column in missing)}; expected {expected}"
            )
        position = {name: header.index(name) for name in columns}
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) < len(header):
                raise AnnotationFormatError(f"{path}, line {number}: {len(cells)} cells, the header has {len(header)}")
            yield number, {name: cells[index].strip() for name, index in position.items()}


def parse_intensities(cells, columns, where):
    """The cells of ``columns`` as numbers in [0, 1]; an error names the line and the columns."""
    values = [cells[name] for name in columns]
    try:
        numbers = [float(value) for value in values]
    except ValueError:
        raise AnnotationFormatError(
            f"{where}: expected {len(columns)} intensities ({','.join(columns)}), got {','.join(values)!r}"
        ) from None
    outside = [f"{name} {value:g}" for name, value in zip(columns, numbers, strict=True) if not 0 <= value <= 1]
    if outside:
        raise AnnotationFormatError(f"{where}: intensities must lie in [0, 1], got {', '.join(outside)}")
    return numbers
