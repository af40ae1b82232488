"""The raw input contract's names: its folders, fields, schemas and reject reasons (one
definition each; the contract itself is described in :mod:`topictensor.contract`).

``RAW_POSTS_SCHEMA`` / ``RAW_BLOGGERS_SCHEMA``: the columns of a raw file as the contract defines
them (what ``topictensor.synth`` writes); ``POSTS_SCHEMA`` / ``BLOGGERS_SCHEMA``: a checked row as
ingest writes it, the same plus where it came from (``source_file``, ``source_row``).
"""

from __future__ import annotations

import pyarrow as pa

POSTS_DIR = "posts"
BLOGGERS_DIR = "bloggers"
MAX_RECORD_CHARS = 2000

REASON_MISSING_POST_ID = "missing post_id"
REASON_INVALID_POST_ID = "invalid post_id (not a string or integer)"
REASON_DUPLICATE_POST_ID = "duplicate post_id"
REASON_DUPLICATE_ACROSS_PARTITIONS = "duplicate post_id (newer partition wins)"
REASON_MISSING_BLOGGER_ID = "missing blogger_id"
REASON_INVALID_BLOGGER_ID = "invalid blogger_id (not a string or integer)"
REASON_DUPLICATE_BLOGGER_ID = "duplicate blogger_id"
REASON_UNKNOWN_BLOGGER = "blogger_id not among the valid bloggers"
REASON_MISSING_LIKES = "missing likes"
REASON_INVALID_LIKES = "likes not a non-negative integer"
REASON_MISSING_FOLLOWERS = "missing followers"
REASON_INVALID_FOLLOWERS = "followers not a non-negative integer"
REASON_INVALID_TAGS = "tags not a list of strings"
REASON_NO_TAGS = "no tags and no caption"
REASON_MISSING_CREATED_AT = "missing created_at"
REASON_INVALID_CREATED_AT = "unparsable created_at"
REASON_INVALID_LANG = "lang not an ISO 639-1 code"
REASON_INVALID_CAPTION = "caption not a string"
REASON_INVALID_USERNAME = "username not a string"
REASON_UNDECODABLE = "undecodable text (not UTF-8)"
REASON_UNDECODABLE_FIELD = "undecodable text (not UTF-8) in {field}"
REASON_INVALID_JSON = "invalid JSON line"
REASON_NOT_AN_OBJECT = "JSON line is not an object"

TIMESTAMP = pa.timestamp("us", tz="UTC")
RAW_POSTS_SCHEMA = pa.schema([
    ("post_id", pa.string()),
    ("blogger_id", pa.string()),
    ("created_at", TIMESTAMP),
    ("tags", pa.list_(pa.string())),
    ("likes", pa.int64()),
    ("lang", pa.string()),
    ("caption", pa.string()),
])
RAW_BLOGGERS_SCHEMA = pa.schema([
    ("blogger_id", pa.string()),
    ("username", pa.string()),
    ("followers", pa.int64()),
    ("lang", pa.string()),
])
SOURCE_FIELDS = [pa.field("source_file", pa.string()), pa.field("source_row", pa.int64())]
POSTS_SCHEMA = pa.schema(list(RAW_POSTS_SCHEMA) + SOURCE_FIELDS)
BLOGGERS_SCHEMA = pa.schema(list(RAW_BLOGGERS_SCHEMA) + SOURCE_FIELDS)
REJECTS_SCHEMA = pa.schema([
    ("source_file", pa.string()),
    ("source_row", pa.int64()),
    ("reason", pa.string()),
    ("record", pa.string()),
])
POST_FIELDS = tuple(RAW_POSTS_SCHEMA.names)
BLOGGER_FIELDS = tuple(RAW_BLOGGERS_SCHEMA.names)


def undecodable_reason(field_name: str) -> str:
    """The reject reason of a row whose ``field_name`` holds bytes that are not UTF-8."""
    return REASON_UNDECODABLE_FIELD.format(field=field_name)
