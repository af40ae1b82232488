"""dags/pod_overrides.py: the train task's pod under KubernetesExecutor."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_PATH = ROOT / "dags" / "pod_overrides.py"


@pytest.fixture(scope="module")
def po():
    spec = importlib.util.spec_from_file_location("_dags_pod_overrides", MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIZED = {
    "TOPICTENSOR_TRAIN_POD_CPUS": "60",
    "TOPICTENSOR_TRAIN_POD_MEMORY": "200Gi",
    "TOPICTENSOR_TRAIN_POD_EPHEMERAL_STORAGE": "500Gi",
    "TOPICTENSOR_TRAIN_NODE_SELECTOR": "cloud.google.com/gke-nodepool=train-c2d-112,kubernetes.io/arch=amd64",
    "TOPICTENSOR_TRAIN_TOLERATIONS": "dedicated=train:NoSchedule,spot:NoExecute",
}


def test_resources_node_pool_and_tolerations_come_from_the_environment(po):
    pod = po.train_pod_spec(SIZED)
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "base"  # the name KubernetesExecutor merges overrides into
    expected = {"cpu": "60", "memory": "200Gi", "ephemeral-storage": "500Gi"}
    assert container["resources"] == {"requests": expected, "limits": expected}  # Guaranteed QoS
    assert {"name": "NUMBA_NUM_THREADS", "value": "60"} in container["env"]
    assert pod["spec"]["nodeSelector"] == {"cloud.google.com/gke-nodepool": "train-c2d-112", "kubernetes.io/arch": "amd64"}
    assert pod["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "train", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
    ]
    assert pod["spec"]["volumes"] == [{"name": "train-scratch", "emptyDir": {"sizeLimit": "500Gi"}}]
    assert container["volumeMounts"] == [{"name": "train-scratch", "mountPath": "/opt/airflow/s3-cache"}]
    assert pod["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"


def test_defaults_describe_a_dedicated_many_core_pool(po):
    pod = po.train_pod_spec({})
    requests = pod["spec"]["containers"][0]["resources"]["requests"]
    assert requests["cpu"] == "64" and requests["memory"] == "128Gi"
    assert pod["spec"]["nodeSelector"] == {"topictensor.io/pool": "train"}
    assert pod["spec"]["tolerations"][0]["key"] == "topictensor.io/pool"


@pytest.mark.parametrize("name, value", [
    ("TOPICTENSOR_TRAIN_POD_CPUS", "7.5"),
    ("TOPICTENSOR_TRAIN_POD_CPUS", "0"),
    ("TOPICTENSOR_TRAIN_POD_MEMORY", "lots"),
    ("TOPICTENSOR_TRAIN_POD_MEMORY", "128GB"),
    ("TOPICTENSOR_TRAIN_NODE_SELECTOR", "pool"),
    ("TOPICTENSOR_TRAIN_TOLERATIONS", "dedicated=train:Sometimes"),
])
def test_a_bad_setting_fails_naming_the_variable(po, name, value):
    with pytest.raises(po.PodOverrideError, match=name):
        po.train_pod_spec({name: value})


@pytest.mark.parametrize("setting, executors, train_executor", [
    ("CeleryExecutor", ["CeleryExecutor"], None),
    ("KubernetesExecutor", ["KubernetesExecutor"], None),
    ("CeleryExecutor,KubernetesExecutor", ["CeleryExecutor", "KubernetesExecutor"], "KubernetesExecutor"),
    ("celery:airflow.providers.celery.executors.celery_executor.CeleryExecutor, "
     "airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor",
     ["CeleryExecutor", "KubernetesExecutor"], "KubernetesExecutor"),
])
def test_which_executor_runs_the_train_task(po, setting, executors, train_executor):
    assert po.configured_executors(setting) == executors
    assert po.train_executor(setting) == train_executor


def test_no_kubernetes_import_unless_the_executor_is_kubernetes():
    """Under Celery the DAG's executor_config is empty and parsing never imports the client."""
    code = (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('po', {str(MODULE_PATH)!r});"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        "config = m.train_executor_config({}, 'CeleryExecutor');"
        "print(config, 'kubernetes' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["{}", "False"]


def test_converts_to_a_v1pod_that_serialises_back_to_the_same_manifest(po):
    import kubernetes  # dev extras: kubernetes==36.0.3 (what the cncf-kubernetes provider pins)
    pod = po.to_v1pod(po.train_pod_spec(SIZED))
    assert isinstance(pod, kubernetes.client.V1Pod)
    assert kubernetes.client.ApiClient().sanitize_for_serialization(pod) == po.train_pod_spec(SIZED)


def test_airflow_stores_and_restores_the_pod_override(po):
    """The executor_config survives Airflow's DAG serialization (what the scheduler reads back)."""
    from airflow.serialization.serialized_objects import BaseSerialization

    config = po.train_executor_config(SIZED, "CeleryExecutor,KubernetesExecutor")
    restored = BaseSerialization.deserialize(BaseSerialization.serialize(config))
    assert restored["pod_override"] == config["pod_override"]
    assert restored["pod_override"].spec.containers[0].resources.limits["cpu"] == "60"
