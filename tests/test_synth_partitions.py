"""synth's weekly layout: posts/dt=<Monday>/ holding exactly that week's posts, a bloggers snapshot
per week, and a rewrite that leaves no stale partition."""

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from topictensor import synth
from topictensor.partitions import list_partitions
from topictensor.store import LocalStore


def test_weekly_partitions_hold_their_weeks_posts(tmp_path):
    corpus = synth.generate(synth.SynthConfig(seed=2, n_bloggers=80, posts_per_blogger_mean=6, files_per_table=2))
    counts = synth.write(corpus, tmp_path / "raw", partition_by="week")
    store = LocalStore(tmp_path / "raw")
    posts = list_partitions(store, "posts")
    assert counts["partitions"] == len(posts) == 8  # the generator's 8 weeks
    total = 0
    for part in posts:
        monday = date.fromisoformat(part.dt)
        assert monday.weekday() == 0
        table = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "raw" / part.prefix).glob("part-*"))])
        days = {d.date() for d in table.column("created_at").to_pylist()}
        assert all(monday <= d < monday + timedelta(days=7) for d in days)
        total += table.num_rows
    assert total == len(corpus.posts)
    assert [b.dt for b in list_partitions(store, "bloggers")] == [p.dt for p in posts]
    assert synth.already_written(corpus.config, tmp_path / "raw", "week")
    assert not synth.already_written(corpus.config, tmp_path / "raw")  # another layout: rewrite

    synth.write(corpus, tmp_path / "raw")  # back to one folder: no dt= folder is left behind
    assert [p.dt for p in list_partitions(store, "posts")] == [None]
