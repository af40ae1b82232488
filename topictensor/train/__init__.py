"""The embedding trainer: StarSpace's margin ranking objective, compiled with numba."""

# Modules whose source decides what a training learns. The train and the tune stage hash them into
# their artifact keys (with their own modules), so editing any of them trains, and tunes, again.
# Not listed, as they do not change the vectors: params (its values are in the keys), memory,
# threads (how many threads is how fast, not what); tests/test_imports.py checks that every other
# module the trainer imports is here.
TRAINER_MODULES = (
    "topictensor.train.kernels", "topictensor.train.blocks", "topictensor.train.trainer",
    "topictensor.train.sampler", "topictensor.train.vocab", "topictensor.train.ppmi",
    "topictensor.train.warm", "topictensor.vectors", "topictensor.vocabulary",
)
