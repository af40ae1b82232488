"""TopicTensor: hashtag embeddings learned from co-occurrence, and the pipeline that refreshes them.

The package is a plain library: stage functions in ``topictensor.stages`` take artifact
references and a typed config and return an artifact reference. Nothing here imports Airflow.
"""

__version__ = "0.1.0"

from topictensor import numba_cache as _numba_cache

_numba_cache.configure()  # before any module of the package imports numba
