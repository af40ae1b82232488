"""A blogger result set as CSV: the same columns for ``/bloggers.csv`` and ``topictensor bloggers --csv``."""

from __future__ import annotations

import csv
import io

CSV_COLUMNS = ["rank", "blogger_id", "username", "profile_url", "lang", "followers", "likes_per_post",
               "engagement_rate", "posts", "tags", "relevance", "score", "why"]


def explanation_text(why: dict | None) -> str:
    """``bmw 41%; audi 22%; other 37%`` (shares of the relevance), empty without an explanation."""
    if not why:
        return ""
    parts = [f"{t['tag']} {100 * t['share']:.0f}%" for t in why["tags"]]
    parts.append(f"other {100 * why['other_share']:.0f}%")
    return "; ".join(parts)


def bloggers_csv(result) -> str:
    """The hits of a :class:`topictensor.search.BloggerResult`, one row each, in its order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rank, hit in enumerate(result.hits, start=result.view.offset + 1):
        writer.writerow([rank, hit.blogger_id, hit.username, hit.profile_url, hit.lang, hit.followers, hit.likes,
                         "" if hit.engagement is None else hit.engagement, hit.posts, hit.tags,
                         round(hit.similarity, 6), round(hit.score, 6), explanation_text(hit.why)])
    return out.getvalue()
