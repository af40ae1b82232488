"""The raw input contract: what the pipeline accepts, and what happens to what breaks it.

Raw input lives under a prefix (``s3://bucket/prefix`` or a local directory), set by
``ingest.input_uri`` (S3 endpoint from ``store.endpoint_url``):

``<prefix>/posts/**`` -- files ``*.parquet``, ``*.jsonl`` or ``*.jsonl.gz``, one post per row/line:

=============  ===========================================================================
post_id        string (integers accepted and cast to string); required, unique
blogger_id     string (integers accepted); required; must be a blogger of ``bloggers/``
created_at     timestamp, or ISO 8601 string (``2024-05-01``, ``2024-05-01T10:00:00+03:00``);
               a time without offset is taken as UTC
tags           list of strings (raw, as written: ``#Café``, ``BMW``); may be null/absent/empty
               when ``caption`` is given: the caption's ``#tags`` are used instead
likes          integer >= 0 (a float with an integral value such as ``12.0`` is accepted)
lang           optional ISO 639-1 code (``ru``, ``pt-BR`` is read as ``pt``)
caption        optional string
=============  ===========================================================================

``<prefix>/bloggers/**`` -- same formats: ``blogger_id`` (required, unique), ``username``
(string, may be null), ``followers`` (integer >= 0), optional ``lang``.

Other fields are ignored. Paths with any component starting with ``_`` or ``.`` (``_truth/``,
``_SUCCESS``, ``.tmp``) are ignored. Rows are numbered from 0 in each file (``source_row``); in
JSONL the row number is the 0-based line number, and blank lines are not rows.

Whole-file failures (the ``ingest`` stage fails with ``ContractError`` naming the file): a file
that cannot be read at all (corrupt parquet, a ``.gz`` that is not gzip, an unknown extension),
no posts files at all (names the prefix), posts files without a single row, no bloggers files.

Row failures: the row goes to ``rejects.parquet`` (``source_file``, ``source_row``, ``reason``,
``record`` = the raw row as JSON text: the JSONL line as written, or a parquet row as JSON; cut at
2000 chars). Reasons are the ``REASON_*`` constants below: missing/invalid ids, a post_id or blogger_id seen
before (the first is kept), likes/followers missing, negative or not an integer, tags not a list
of strings, neither tags nor caption, created_at missing or unparsable, a lang that is not an
ISO 639-1 code, a caption or username that is not a string, a JSONL line that is not UTF-8, not
JSON, or not a JSON object, a Parquet string value (any field, tags included) whose bytes are not
UTF-8 (Parquet writers need not check it; the reason names the field), and a post whose blogger is not among the valid bloggers. Every input
row ends up either in the output or in the rejects. When the rejected share of all rows exceeds
``ingest.max_reject_share`` the stage fails, writes the rejects to ``rejects/<ingest key>/`` in
the artifact store for the operator, and leaves no artifact.

Tags are kept raw here. Normalisation (``topictensor.tags``) happens in the ``normalize`` stage,
which drops tags with invalid characters and then posts left without any tag (counted there, as
is a caption-only post whose caption holds no ``#tag``).

Modules, one job each: ``schema`` (folders, fields, schemas, reject reasons), ``listing`` (which
files), ``readers`` (a reader per format, keyed by suffix: ``parquet``, ``jsonl``; what they yield:
``batch``), ``rules`` (coercion and checks of each field and row). The names used by the stages
are importable from this package.
"""

from topictensor.contract.batch import RawBatch, record_text
from topictensor.contract.listing import is_ignored, raw_files
from topictensor.contract.readers import FORMATS, READERS, file_format, read_raw_file
from topictensor.contract.rules import (CheckedBatch, check_bloggers, check_posts, coerce_counts, coerce_ids,
                                        coerce_lang, coerce_optional_text, coerce_tags, coerce_timestamps,
                                        first_occurrences, rejects_table)
from topictensor.contract.schema import *  # noqa: F403 (every name of the schema: folders, fields, REASON_*)

# The modules whose source decides what ingest accepts (its artifacts' code version).
MODULES = ("topictensor.contract", "topictensor.contract.schema", "topictensor.contract.listing",
           "topictensor.contract.batch", "topictensor.contract.parquet", "topictensor.contract.jsonl",
           "topictensor.contract.readers", "topictensor.contract.rules")
