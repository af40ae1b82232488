"""The fixed-topics stage and its config section share one name, ``clusters``; a config written
with the section's old name, ``topics``, still loads (from a file, the environment or a run's
params), with a warning, the new name winning where both are given."""

import logging

import pytest

from topictensor.config import PipelineConfig, config_from_params, load_config
from topictensor.errors import ConfigError
from topictensor.stages.graph import STAGES


def test_the_stage_and_its_section_share_the_name_clusters():
    assert "clusters" in STAGES and "clusters" in PipelineConfig.model_fields
    assert "topics" not in PipelineConfig.model_fields


def test_the_old_section_name_still_loads_with_a_warning(tmp_path, monkeypatch, caplog):
    path = tmp_path / "topictensor.yaml"
    path.write_text("topics:\n  reducer: pca\n  min_cluster_size: 7\n")
    with caplog.at_level(logging.WARNING, logger="topictensor.config"):
        config = load_config(path, use_env=False)
    assert config.clusters.reducer == "pca" and config.clusters.min_cluster_size == 7
    assert "'topics' is now 'clusters'" in caplog.text
    monkeypatch.setenv("TOPICTENSOR__TOPICS__MIN_CLUSTER_SIZE", "9")
    assert load_config(use_env=True, path=path).clusters.min_cluster_size == 9
    assert config_from_params({"overrides": {"topics": {"seed": 3}}}, path).clusters.seed == 3


def test_the_new_name_wins_field_by_field_and_bad_values_still_name_the_field(tmp_path):
    both = load_config(overrides={"topics": {"reducer": "pca", "min_cluster_size": 7},
                                  "clusters": {"min_cluster_size": 11}}, use_env=False)
    assert both.clusters.reducer == "pca" and both.clusters.min_cluster_size == 11
    with pytest.raises(ConfigError, match="clusters.min_cluster_size"):
        load_config(overrides={"topics": {"min_cluster_size": "many"}}, use_env=False)
