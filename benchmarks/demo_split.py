"""Write the production model's train / held-out split out of the demo store (filtered and weighted
as training read it), so the trainer benchmark can run on the project's own corpus:
``python benchmarks/demo_split.py OUT_DIR``."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq

from topictensor.config import load_config
from topictensor.registry import Registry
from topictensor.stages.split import SplitPosts


def main(out_dir: str) -> None:
    registry = Registry(load_config().open_store())
    split = registry.artifact(None, "split")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    posts = SplitPosts(registry.store, split)
    for side in ("train", "heldout"):
        pq.write_table(posts.table(side), out / f"{side}.parquet")
    print(f"demo split {split.ref.key} written to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".data/bench-demo")
