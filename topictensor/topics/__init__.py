"""Fixed topics: the tag space clustered into named topics whose ids stay stable week to week.

``build.build_topics`` is the pure engine (vectors in, topics and members tables out);
``match.match_topics`` carries ids over from the previous version; ``tree`` groups topics for
people; ``report`` renders the HTML page; ``topictensor.stages.clusters`` runs it all as a stage.
"""

from topictensor.topics.params import TopicsConfig

__all__ = ["TopicsConfig"]
