"""The blogger table: the ``bloggers.parquet`` a ``blogger_vectors`` artifact holds (one row and one
unit vector per blogger, written by :mod:`topictensor.search.vectors`), read into numpy columns grouped
by language, and the interface the ranking (:mod:`topictensor.search.bloggers`) reads it through:
language blocks and masks, counts and vectors by grouped position, score denominators, hits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.search.explain import PROFILE_COLUMNS, Profiles

if TYPE_CHECKING:
    from topictensor.search.bloggers import Popularity

FILENAME = "bloggers.parquet"
COLUMNS = ("blogger_id", "username", "lang", "followers", "likes", "likes_total", "posts", "tags", "vector")


def guarded_log(x) -> np.ndarray:
    """``ln(max(x, e))``: >= 1 for every count, so it can be raised to a power and divided by."""
    return np.log(np.maximum(np.asarray(x, dtype=np.float64), math.e))



@dataclass(frozen=True)
class BloggerHit:
    blogger_id: str
    username: str
    lang: str
    followers: int
    likes: float
    posts: int
    tags: int
    similarity: float
    score: float
    engagement: float | None = None  # mean likes per post / followers (None: no followers)
    why: dict | None = None  # the explanation (topictensor.search.explain), when asked for

    @property
    def profile_url(self) -> str:
        """The blogger's Instagram profile."""
        from urllib.parse import quote

        return f"https://www.instagram.com/{quote(self.username, safe='._')}/"

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.why is None:
            out.pop("why")
        out["profile_url"] = self.profile_url
        return out


class BloggerTable:
    """The ``bloggers.parquet`` of a ``blogger_vectors`` artifact, as numpy columns."""

    def __init__(self, table: pa.Table):
        missing = set(COLUMNS) - set(table.column_names)
        if missing:
            raise ValueError(f"blogger table lacks column(s) {sorted(missing)} (has {table.column_names})")
        self.ids = np.asarray(table.column("blogger_id").to_pylist(), dtype=object)
        self.usernames = np.asarray(table.column("username").to_pylist(), dtype=object)
        self.langs = np.asarray(table.column("lang").to_pylist(), dtype=object)
        self.followers = table.column("followers").to_numpy().astype(np.int64)
        self.likes = table.column("likes").to_numpy().astype(np.float64)
        self.posts = table.column("posts").to_numpy().astype(np.int64)
        self.tags = table.column("tags").to_numpy().astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.engagement = np.where(self.followers > 0, self.likes / np.maximum(self.followers, 1), np.nan)
        self.vectors = read_vectors(table.column("vector"))
        self.row = {bid: i for i, bid in enumerate(self.ids.tolist())}
        # @username lookup (case-insensitive, as Instagram's handles are); the first row wins a clash.
        self.by_username: dict[str, int] = {}
        for i, name in enumerate(self.usernames.tolist()):
            self.by_username.setdefault(str(name).lower(), i)
        # Each blogger's stored top tags with their weights (explanations, tag exclusions); absent
        # in artifacts written before they existed.
        self.profiles = Profiles(table) if set(PROFILE_COLUMNS) <= set(table.column_names) else None
        # ln(L(x)) of each count: the score's denominator is exp(lambda_ ln L(likes) + phi ln L(followers)
        # + tau ln L(tags)), one exp instead of three powers per blogger.
        self._loglog = np.stack([np.log(guarded_log(x)) for x in (self.likes, self.followers, self.tags)])
        self._group_by_language(table.column("lang"))

    def _group_by_language(self, column: pa.ChunkedArray) -> None:
        """Each language's bloggers as one contiguous block, so a language filter is a slice.

        The blogger_vectors stage writes rows sorted by language, so the blocks are slices of the
        table itself (no copy). A table grouped otherwise gets one grouped copy of its vectors and
        counts, made here once (it doubles the vectors' memory).
        """
        encoded = pc.dictionary_encode(pc.fill_null(column, "")).combine_chunks()
        names = [str(x).lower() for x in encoded.dictionary.to_pylist()]
        vocabulary = sorted(set(names))
        remap = np.asarray([vocabulary.index(x) for x in names], dtype=np.int32)
        codes = remap[encoded.indices.to_numpy(zero_copy_only=False)] if len(names) else np.zeros(0, np.int32)
        self.lang_codes = codes.astype(np.int32)
        self._lang_code = {name: i for i, name in enumerate(vocabulary)}
        counts = np.bincount(codes, minlength=len(vocabulary))
        runs = 1 + int(np.count_nonzero(codes[1:] != codes[:-1])) if len(codes) else 0
        if runs <= len(vocabulary):  # every language in one run: slices of the table itself
            starts = np.zeros(len(vocabulary), dtype=np.int64)
            if len(codes):
                first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
                starts[codes[first]] = first
            self._blocks = {name: slice(int(starts[i]), int(starts[i] + counts[i]))
                            for i, name in enumerate(vocabulary)}
            self.grouped_rows = None
            self._g_vectors, self._g_followers, self._g_posts, self._g_loglog = (
                self.vectors, self.followers, self.posts, self._loglog)
            self._g_engagement = self.engagement
        else:
            order = np.argsort(codes, kind="stable")
            ends = np.cumsum(counts)
            self._blocks = {name: slice(int(ends[i] - counts[i]), int(ends[i])) for i, name in enumerate(vocabulary)}
            self.grouped_rows = order
            self._grouped_positions = np.empty_like(order)
            self._grouped_positions[order] = np.arange(len(order))
            self._g_vectors = np.ascontiguousarray(self.vectors[order])
            self._g_followers, self._g_posts = self.followers[order], self.posts[order]
            self._g_engagement = self.engagement[order]
            self._g_loglog = np.ascontiguousarray(self._loglog[:, order])

    @property
    def grouped(self) -> bool:
        """True when the table's own rows are grouped by language (no grouped copy needed)."""
        return self.grouped_rows is None

    def lang_counts(self) -> dict[str, int]:
        return {name: sl.stop - sl.start for name, sl in self._blocks.items()}

    def lang_blocks(self, languages: Sequence[str]) -> list[slice]:
        """Positions (in grouped order) of the bloggers of ``languages``; unknown codes have none."""
        return [self._blocks[x] for x in dict.fromkeys(languages) if x in self._blocks]

    def lang_mask(self, languages: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """Which bloggers (all, or table ``rows``) write in one of ``languages`` (unknown codes: none)."""
        codes = self.lang_codes if rows is None else self.lang_codes[rows]
        wanted = [self._lang_code[x] for x in languages if x in self._lang_code]
        if len(wanted) == 1:
            return codes == wanted[0]
        return np.isin(codes, np.asarray(wanted, dtype=np.int32))

    def grouped_counts(self, positions: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Followers, posts and engagement rates of ``positions`` in grouped order (a block: no copy)."""
        return self._g_followers[positions], self._g_posts[positions], self._g_engagement[positions]

    def grouped_vectors(self, positions: slice | np.ndarray) -> np.ndarray:
        """The vectors of ``positions`` in grouped order (a block: a view; positions: gathered)."""
        return self._g_vectors[positions]

    def grouped_positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions in grouped order of table ``rows``."""
        return rows if self.grouped_rows is None else self._grouped_positions[rows]

    def original_rows(self, positions: np.ndarray) -> np.ndarray:
        """Table rows of positions in grouped order."""
        return positions if self.grouped_rows is None else self.grouped_rows[positions]

    def denominators(self, popularity: Popularity, rows: np.ndarray | slice | None = None, *,
                     grouped: bool = False) -> np.ndarray:
        """The score's denominator of ``rows`` (table rows, or positions in grouped order)."""
        loglog = self._g_loglog if grouped else self._loglog
        part = loglog if rows is None else loglog[:, rows]
        return np.exp(popularity.lambda_ * part[0] + popularity.phi * part[1] + popularity.tau * part[2])

    @classmethod
    def read(cls, path: str | Path) -> "BloggerTable":
        return cls(pq.read_table(path))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def scores(self, rows: np.ndarray, sims: np.ndarray, popularity: Popularity) -> np.ndarray:
        """Score of table ``rows`` with cosines ``sims`` (same numbers as :func:`score`)."""
        return np.asarray(sims, dtype=np.float64) / self.denominators(popularity, rows)

    def hit(self, row: int, sim: float, value: float) -> BloggerHit:
        rate = self.engagement[row]
        return BloggerHit(
            blogger_id=str(self.ids[row]), username=str(self.usernames[row]), lang=str(self.langs[row]),
            followers=int(self.followers[row]), likes=round(float(self.likes[row]), 3),
            posts=int(self.posts[row]), tags=int(self.tags[row]), similarity=float(sim), score=float(value),
            engagement=None if np.isnan(rate) else round(float(rate), 6))

    def find(self, ref: str) -> int | None:
        """The row of a blogger named by id or by ``@username`` (a bare name that is no id is tried
        as a username too); None when there is no such blogger."""
        text = str(ref).strip()
        if text.startswith("@"):
            return self.by_username.get(text[1:].strip().lower())
        row = self.row.get(text)
        return row if row is not None else self.by_username.get(text.lower())


def read_vectors(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A ``list<float32>`` column of equal-length vectors as one contiguous float32 matrix."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(col)
    values = pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.float32)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if len(values) % n:
        raise ValueError("blogger vectors have different lengths")
    return np.ascontiguousarray(values.reshape(n, len(values) // n))

