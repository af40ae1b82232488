"""Hyperparameter search within a wall-clock budget, on a validation split of the training posts.

Method: successive halving over random configurations (Jamieson & Talwalkar 2016; one Hyperband
bracket at a time). The resource is the share of training posts: a bracket trains
``bracket_size`` random configurations on 1/9 of the posts, keeps the best third on 1/3, and
trains the best of those on all of them; brackets repeat while the budget lasts. Cheap rungs are
the early stopping: a poor configuration costs a ninth of a full training. The current
configuration (the defaults, or the config file's ``train:`` section) is always trained on all
posts first, so the chosen configuration is never worse on validation than what it replaces.

Quality is the held-out metric (``topictensor.quality``) on validation posts carved from the
training posts (or given explicitly): the test split that the pipeline reports and gates on is
never seen by the search. Before each trial its seconds are predicted from the trials already run
(seconds per tag occurrence x epoch x candidate, per mode); a trial that would overrun the
budget is not started.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from topictensor.train.params import TrainConfig

log = logging.getLogger("topictensor.tune")

SEARCHED = ("mode", "dim", "epochs", "negatives", "lr")
RUNGS = (1 / 9, 1 / 3, 1.0)  # share of the training posts at each rung of a bracket
KEEP = 3  # successive halving keeps the best 1/KEEP of a rung for the next one
MAX_DIM = 128  # the index and every query pay for each dimension


@dataclass(frozen=True)
class SearchSpace:
    """Where random configurations are drawn from (uniformly, lr log-uniformly)."""

    dims: Sequence[int] = (32, 48, 64, 100, 128)
    epochs: Sequence[int] = (3, 5, 8, 12)
    negatives: Sequence[int] = (5, 10, 15, 20, 25)
    lr: tuple[float, float] = (0.003, 0.03)
    modes: Sequence[str] = ("skipgram", "skipgram", "pair", "cbow")  # skipgram drawn half the time

    def __post_init__(self) -> None:
        if max(self.dims) > MAX_DIM:
            raise ValueError(f"search space: dim {max(self.dims)} exceeds the limit of {MAX_DIM}")

    def draw(self, rng: np.random.Generator, base: TrainConfig) -> TrainConfig:
        lo, hi = self.lr
        return base.model_copy(update={
            "mode": str(rng.choice(list(self.modes))),
            "dim": int(rng.choice(list(self.dims))),
            "epochs": int(rng.choice(list(self.epochs))),
            "negatives": int(rng.choice(list(self.negatives))),
            "lr": float(round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 5)),
        })


@dataclass
class Trial:
    number: int
    bracket: int  # 0 = the current configuration
    share: float  # share of the training posts trained on
    config: dict[str, Any]  # the searched fields
    quality: float = float("nan")
    seconds: float = 0.0
    predicted_seconds: float | None = None
    pareto: bool = False
    error: str | None = None


@dataclass
class TuneResult:
    best: TrainConfig
    baseline: TrainConfig
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0
    budget_seconds: float = 0.0
    validation_posts: int = 0
    stopped_because: str = ""

    @property
    def best_trial(self) -> Trial:
        return _best(self.finals())

    @property
    def baseline_trial(self) -> Trial:
        return self.trials[0]

    def finals(self) -> list[Trial]:
        """Trials on all posts, the only ones whose quality compares across configurations."""
        return [t for t in self.trials if t.share == 1.0 and t.error is None]

    def table(self) -> str:
        """One row per trial, quality vs seconds; ``*`` marks the Pareto front of the full trainings."""
        cols = ["trial", "bracket", "posts", *SEARCHED, "quality", "seconds", "pareto"]
        rows = []
        best = self.best_trial.number
        for t in self.trials:
            cell = {"trial": f"{t.number}{' <' if t.number == best else ''}",
                    "bracket": "current" if t.bracket == 0 else str(t.bracket), "posts": f"{t.share:.0%}",
                    **{k: str(t.config[k]) for k in SEARCHED},
                    "quality": "failed" if t.error else f"{t.quality:.4f}", "seconds": f"{t.seconds:.2f}",
                    "pareto": "*" if t.pareto else ""}
            rows.append([cell[c] for c in cols])
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        line = lambda cells: "| " + " | ".join(v.ljust(w) for v, w in zip(cells, widths)) + " |"  # noqa: E731
        out = [line(cols), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
        out.append(f"< = chosen; * = Pareto front (no full training both better and faster); "
                   f"quality on {self.validation_posts:,} validation posts; {self.seconds:.1f} s of "
                   f"a {self.budget_seconds:.0f} s budget; stopped: {self.stopped_because}")
        return "\n".join(out)

    def train_section(self) -> dict[str, Any]:
        """The chosen configuration as the ``train:`` section of topictensor.yaml: the searched
        fields and whatever the starting configuration set away from the defaults (not threads)."""
        chosen = self.best.model_dump(mode="json", exclude_defaults=True, exclude={"threads"})
        chosen.update({k: getattr(self.best, k) for k in SEARCHED})
        return chosen

    def to_yaml(self) -> str:
        import yaml

        b, c = self.best_trial, self.baseline_trial
        head = (f"# topictensor tune: {len(self.trials)} trials in {self.seconds:.1f} s "
                f"(budget {self.budget_seconds:.0f} s), successive halving over random configurations.\n"
                f"# validation quality: chosen {b.quality:.4f} in {b.seconds:.2f} s; "
                f"the starting configuration {c.quality:.4f} in {c.seconds:.2f} s.\n")
        return head + yaml.safe_dump({"train": self.train_section()}, sort_keys=False)

    def summary(self) -> dict[str, Any]:
        return {"trials": [asdict(t) for t in self.trials], "chosen": self.train_section(),
                "chosen_quality": self.best_trial.quality, "baseline_quality": self.baseline_trial.quality,
                "seconds": self.seconds, "budget_seconds": self.budget_seconds,
                "validation_posts": self.validation_posts, "stopped_because": self.stopped_because}


def split_validation(table: pa.Table, share: float, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """(training part, validation part): a seeded random ``share`` of the rows held out."""
    if not 0 < share < 1:
        raise ValueError(f"validation share must be between 0 and 1, got {share}")
    held = np.random.default_rng([seed, 7]).random(table.num_rows) < share
    return table.filter(pa.array(~held)), table.filter(pa.array(held))


def _best(trials: Sequence[Trial]) -> Trial:
    return max(trials, key=lambda t: (t.quality, -t.seconds, -t.number))


def _mark_pareto(trials: Sequence[Trial]) -> None:
    finals = [t for t in trials if t.share == 1.0 and t.error is None]
    for t in trials:
        t.pareto = t in finals and not any(
            o is not t and o.quality >= t.quality and o.seconds <= t.seconds
            and (o.quality > t.quality or o.seconds < t.seconds) for o in finals)


class _CostModel:
    """Seconds of a trial ~ fixed + rate[mode] * occurrences * epochs * (negatives + 1) * (dim + 16)."""

    def __init__(self) -> None:
        self.rates: dict[str, float] = {}
        self.others: list[float] = []  # per trial: seconds outside the epochs (setup, evaluation)

    @staticmethod
    def units(cfg: TrainConfig, occurrences: int) -> float:
        return occurrences * cfg.epochs * (cfg.negatives + 1) * (cfg.dim + 16)

    def learn(self, cfg: TrainConfig, occurrences: int, train_seconds: float, other_seconds: float) -> None:
        rate = train_seconds / max(self.units(cfg, occurrences), 1.0)
        self.rates[cfg.mode] = max(rate, self.rates.get(cfg.mode, 0.0) * 0.5)
        self.others.append(other_seconds)

    def predict(self, cfg: TrainConfig, occurrences: int) -> float | None:
        if not self.rates:
            return None
        rate = self.rates.get(cfg.mode, 2.0 * max(self.rates.values()))
        # The median: the first trial's setup includes loading the compiled kernels once per process.
        return float(np.median(self.others)) + 1.2 * rate * self.units(cfg, occurrences)


def tune(
    train_table: pa.Table,
    validation: Sequence[Sequence[str]],
    budget_seconds: float,
    base: TrainConfig | None = None,
    *,
    space: SearchSpace | None = None,
    seed: int = 0,
    bracket_size: int = 9,
    progress: Callable[[Trial], None] | None = None,
) -> TuneResult:
    """Search ``space`` around ``base`` within ``budget_seconds`` (see the module docstring).

    ``train_table`` has a ``tags`` list column (optional ``weights``); ``validation`` is a list of
    tag lists that the trials never train on."""
    from topictensor.quality import quality
    from topictensor.train.trainer import train
    from topictensor.train.vocab import encode_table

    started = time.perf_counter()
    base = base or TrainConfig()
    space = space or SearchSpace()
    if budget_seconds <= 0:
        raise ValueError(f"budget must be positive, got {budget_seconds} s")
    if base.dim > MAX_DIM:
        raise ValueError(f"the starting configuration has dim {base.dim}; the search keeps dim <= {MAX_DIM}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(train_table.num_rows)  # nested subsets: rung r's posts include rung r-1's
    validation = [list(p) for p in validation if p is not None and len(p) >= 2]
    if not validation:
        raise ValueError("tuning needs validation posts with at least 2 tags")
    subsets: dict[float, tuple[Any, Any, int]] = {}

    def data(share: float):
        if share not in subsets:
            n = max(2, int(round(train_table.num_rows * share)))
            part = train_table.take(pa.array(np.sort(order[:n])))
            vocab, posts = encode_table(part, base.min_count)
            subsets[share] = (vocab, posts, posts.n_occurrences)
        return subsets[share]

    trials: list[Trial] = []
    cost = _CostModel()
    result = TuneResult(best=base, baseline=base, trials=trials, budget_seconds=float(budget_seconds),
                        validation_posts=len(validation))

    def run(cfg: TrainConfig, share: float, bracket: int) -> Trial | None:
        """Train and score one configuration; None when it would not fit in the budget."""
        vocab, posts, occ = data(share)
        predicted = cost.predict(cfg, occ)
        left = budget_seconds - (time.perf_counter() - started)
        if trials and predicted is not None and predicted > left:
            return None
        trial = Trial(number=len(trials), bracket=bracket, share=share,
                      config={k: getattr(cfg, k) for k in SEARCHED}, predicted_seconds=predicted)
        t0 = time.perf_counter()
        try:
            out = train(posts, vocab, cfg)
            train_seconds = sum(h["seconds"] for h in out.history)
            trial.quality = quality((out.vectors, vocab.index), validation).quality
        except (ValueError, FloatingPointError) as exc:  # a diverging lr, a subset without pairs
            train_seconds = time.perf_counter() - t0
            trial.error = str(exc)
            trial.quality = float("-inf")
        trial.seconds = time.perf_counter() - t0
        cost.learn(cfg, occ, train_seconds, trial.seconds - train_seconds)
        trials.append(trial)
        log.info("trial %d (bracket %d, %.0f%% of posts) %s: quality %.4f in %.2f s", trial.number, bracket,
                 share * 100, trial.config, trial.quality, trial.seconds)
        if progress is not None:
            progress(trial)
        return trial

    first = run(base, 1.0, 0)
    if first is None or first.error:
        raise ValueError(f"the starting configuration does not train: {first.error if first else 'no time'}")
    configs: dict[int, TrainConfig] = {first.number: base}
    result.stopped_because = "budget spent"
    bracket = 0
    out_of_time = False
    while not out_of_time:
        bracket += 1
        rung = [space.draw(rng, base) for _ in range(bracket_size)]
        for level, share in enumerate(RUNGS):
            done = []
            for cfg in rung:
                t = run(cfg, share, bracket)
                if t is None:
                    out_of_time = True
                    break
                configs[t.number] = cfg
                done.append(t)
            if out_of_time or not done:
                break
            survivors = sorted((t for t in done if t.error is None), key=lambda t: -t.quality)
            rung = [configs[t.number] for t in survivors[: max(1, len(done) // KEEP)]]
        if bracket >= 1000:  # pragma: no cover - a guard against a zero-cost loop
            result.stopped_because = "bracket limit"
            break

    _mark_pareto(trials)
    best = _best(result.finals())
    result.best = configs[best.number]
    result.seconds = time.perf_counter() - started
    return result
