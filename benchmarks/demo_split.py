"""Copy the production model's train / held-out split out of the demo store, so the trainer
benchmark can run on the project's own corpus: ``python benchmarks/demo_split.py OUT_DIR``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from topictensor.config import load_config
from topictensor.registry import Registry


def main(out_dir: str) -> None:
    split = Registry(load_config().open_store()).artifact(None, "split")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("train.parquet", "heldout.parquet"):
        shutil.copyfile(split.path(name), out / name)
    print(f"demo split {split.ref.key} copied to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".data/bench-demo")
