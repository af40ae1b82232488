"""Which languages get their own filter task: present in the data and allowed by the config."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import PipelineConfig
from topictensor.errors import ConfigError


def select_languages(normalized: ArtifactRef | dict, config: PipelineConfig) -> list[str]:
    present = Artifact(config.open_store(), normalized).manifest.get("extra", {}).get("languages", [])
    wanted = config.filter.languages
    chosen = [lang for lang in present if wanted is None or lang in wanted]
    if not chosen:
        raise ConfigError(
            f"filter.languages={wanted} selects none of the languages present in the data: {present}"
        )
    return chosen
