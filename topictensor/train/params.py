"""Hyperparameters of the embedding trainer (StarSpace's algorithm)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The warm-start policy: how a weekly retraining continues the production model. These fields
# decide a training only when it does start warm (``TrainConfig.deciding_settings``).
WARM_START = {"policy": "warm start"}
# How fast, not what: left out of every artifact key.
NOT_DECIDING = frozenset({"threads"})


class TrainConfig(BaseModel):
    """Every knob of the trainer; recorded verbatim in model.json. The fields marked ``WARM_START``
    (warm_start, warm_epochs, warm_lr_scale, keep_vanished_tags) are the warm-start policy: see
    :meth:`warm_start_fields`, :meth:`warm_run` and :meth:`deciding_settings`."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["skipgram", "cbow", "pair"] = Field(
        "skipgram",
        description="How a post's tags are paired: one tag against each other tag (skipgram), "
        "the rest of the post against one tag (cbow), or two random tags (pair).",
    )
    loss: Literal["hinge", "softmax"] = Field(
        "hinge", description="hinge: StarSpace's margin ranking loss; softmax: over sampled negatives."
    )
    dim: int = Field(100, ge=2, le=1024, description="Dimension of the tag vectors.")
    epochs: int = Field(5, ge=1, le=1000, description="Passes over the training posts (cold training).")
    negatives: int = Field(10, ge=1, le=1000, description="Negative tags sampled per positive pair.")
    margin: float = Field(
        0.1,
        gt=0,
        le=2.0,
        description="Hinge loss margin on cosine similarity (StarSpace: 0.05): a pair keeps being pulled "
        "until it beats the negatives by more, so pairs seen often end closer than pairs seen once. The "
        "default is measured per corpus shape in the README (benchmarks/bench_levers.py).",
    )
    temperature: float = Field(
        0.1, gt=0, le=10.0, description="softmax loss: logits are cosine / temperature."
    )
    separate_rhs: bool = Field(
        False,
        description="Learn a second matrix for the right-hand side (context) tags; the output vectors "
        "are then the sum of both unit-normalised matrices.",
    )
    lr: float = Field(0.01, gt=0, description="Initial learning rate.")
    lr_decay: bool = Field(True, description="Decay the learning rate linearly to 0 over training.")
    adagrad: bool = Field(True, description="Adagrad step sizes per row (its state is saved as adagrad.npy for warm starts).")
    neg_power: float = Field(
        0.0,
        ge=0,
        le=1.0,
        description="Negatives ~ count**neg_power (weighted counts). 0 = uniform over the vocabulary, as "
        "the candidates of a neighbour search are; 1 = StarSpace's sampling from the data. The default "
        "is measured in the README (benchmarks/bench_trainer_quick.py).",
    )
    neg_mix: float = Field(
        1.0,
        ge=0,
        le=1.0,
        description="Share of the negative distribution drawn ~ count**neg_power; the rest is uniform over "
        "the vocabulary (frequency-aware sampling mixed with uniform). 1 = count**neg_power alone "
        "(with neg_power 0 that is uniform).",
    )
    rare_count: int = Field(
        20,
        ge=1,
        description="rare_boost: a tag is rare when its weighted count is below this.",
    )
    rare_boost: int = Field(
        0,
        ge=0,
        le=100,
        description="Extra passes per epoch over the posts holding a rare tag (see rare_count): more "
        "epochs for rare tags without more epochs for the rest; 0 = off.",
    )
    length_power: float = Field(
        0.0,
        ge=0,
        le=2.0,
        description="Per-pair weighting by post length: every tag occurrence of a post with n tags is "
        "weighted (n-1)**(-length_power/2) on top of its own weight, so a skipgram or pair example "
        "weighs (n-1)**-length_power (1: the pairs of an occurrence sum to its own weight, so a 30-tag "
        "post counts 15x a 2-tag post instead of 435x); 0 = off (measured in the README: lower quality "
        "on every shape but zipf, +0.3 points there). The negative distribution and rare_boost count occurrences without it.",
    )
    init: Literal["random", "ppmi_svd"] = Field(
        "random",
        description="Cold start from normal(0, init_sd) (random) or from the PPMI + truncated SVD of the "
        "post-level co-occurrence counts (ppmi_svd: rows scaled to the norm a random row has, then "
        "trained). A warm start's vectors take precedence over either.",
    )
    max_context: int = Field(
        0,
        ge=0,
        le=1000,
        description="skipgram: pair each tag with at most this many other tags of its post, drawn "
        "at random (bounds the n*(n-1) cost of long posts); 0 = all.",
    )
    both_directions: bool = Field(
        False,
        description="skipgram: train every ordered pair (a->b and b->a, as word2vec and StarSpace do) "
        "instead of each unordered pair once in a random direction; twice the cost, the same "
        "quality measured with a shared matrix.",
    )
    subsample: float = Field(
        0.0,
        ge=0,
        le=1.0,
        description="Drop occurrences of tags whose share of all occurrences f exceeds this, "
        "keeping each with probability sqrt(t/f) + t/f (word2vec); 0 = off.",
    )
    init_sd: float = Field(0.001, gt=0, description="Standard deviation of the random initial vectors.")
    min_count: int = Field(1, ge=1, description="Tags used fewer times in the training posts are left out.")
    threads: int = Field(0, ge=0, description="0 = all cores.")
    seed: int = Field(0, description="Random seed (initial vectors, negatives, post order).")
    deterministic: bool = Field(False, description="Single thread, bit-identical reruns.")
    warm_start: bool = Field(
        True,
        json_schema_extra=WARM_START,
        description="In the pipeline, start from the production model's vectors (when it has the same "
        "dim) instead of from random: the weekly refresh then needs warm_epochs instead of epochs, "
        "and tag vectors stay comparable from week to week. No production model (the first run) or "
        "another dim: a cold start.",
    )
    warm_epochs: int = Field(
        2,
        json_schema_extra=WARM_START,
        ge=1,
        le=1000,
        description="Epochs of a warm-started training (epochs applies to a cold start). The warm start "
        "continues the previous model's Adagrad state (adagrad.npy), so these epochs add to its training "
        "instead of redoing it (benchmarks/bench_warm_start.py).",
    )
    warm_lr_scale: float = Field(
        0.3,
        json_schema_extra=WARM_START,
        gt=0,
        le=1.0,
        description="Only when the previous model has no saved Adagrad state (adagrad off, or a model "
        "from before it was saved): the warm training runs at lr * warm_lr_scale, since a restart at "
        "full lr with fresh accumulators first shakes the converged vectors loose.",
    )
    keep_vanished_tags: bool = Field(
        False,
        json_schema_extra=WARM_START,
        description="Warm start: keep the previous model's tags that are absent from the new corpus "
        "(their previous vectors, count 0). Off by default: a tag the filter or the blacklist now "
        "drops must not come back through the old model.",
    )

    @classmethod
    def warm_start_fields(cls) -> frozenset[str]:
        """The fields of the warm-start policy (marked ``WARM_START``)."""
        return frozenset(name for name, f in cls.model_fields.items() if f.json_schema_extra == WARM_START)

    def deciding_settings(self, *, warm: bool) -> dict[str, Any]:
        """The settings that decide what a training learns, as an artifact key's parameters: all but
        ``NOT_DECIDING``, and the warm-start policy only when the run does start warm (a cold run
        with another warm_epochs learns the same)."""
        exclude = set(NOT_DECIDING) | (set() if warm else set(self.warm_start_fields()))
        return self.model_dump(mode="json", exclude=exclude)

    def warm_run(self, *, adagrad_continued: bool) -> "TrainConfig":
        """The settings a warm-started training runs with: ``warm_epochs`` epochs, and the learning
        rate scaled by ``warm_lr_scale`` when the previous optimiser state is not continued."""
        lr = self.lr if adagrad_continued else self.lr * self.warm_lr_scale
        return self.model_copy(update={"epochs": self.warm_epochs, "lr": lr})
