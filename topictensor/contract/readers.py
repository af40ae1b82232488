"""The readers of raw files, one per format, in a registry keyed by file suffix.

A reader is ``(local path, fields) -> Iterator[RawBatch]``: the contract's ``fields`` of every
row (absent ones as nulls), their row numbers and raw text. Supporting another format means one
module with its reader and one entry in ``READERS``; the rules (``topictensor.contract.rules``)
never see the format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from topictensor.contract.batch import RawBatch
from topictensor.contract.jsonl import read_jsonl, read_jsonl_gz
from topictensor.contract.parquet import read_parquet
from topictensor.errors import ContractError
from topictensor.store import Store

Reader = Callable[[Path, tuple[str, ...]], Iterator[RawBatch]]

# suffix -> reader; the longest matching suffix wins (".jsonl.gz" before ".gz" would)
READERS: dict[str, Reader] = {
    ".parquet": read_parquet,
    ".jsonl": read_jsonl,
    ".jsonl.gz": read_jsonl_gz,
}
FORMATS = tuple(READERS)


def file_format(store: Store, key: str) -> str:
    """The suffix of ``key`` that picks its reader; a ContractError naming the file when none does."""
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if key.endswith(suffix):
            return suffix
    raise ContractError(
        f"{store.url(key)}: unknown file type; raw files must end with {', '.join(FORMATS)} "
        f"(or start with '_' or '.' to be ignored)"
    )


def read_raw_file(store: Store, key: str, fields: tuple[str, ...]) -> Iterator[RawBatch]:
    """Stream a raw file in batches through the reader of its format (parquet by row group, JSONL by
    chunks of lines); a file that cannot be read is a ContractError naming it."""
    reader = READERS[file_format(store, key)]
    path = store.local_path(key)
    try:
        yield from reader(path, fields)
    except ContractError:
        raise
    except (OSError, EOFError, pa.ArrowException, ValueError) as exc:
        raise ContractError(f"{store.url(key)}: cannot read file ({type(exc).__name__}: {exc})") from exc
