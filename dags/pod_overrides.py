"""The train task's pod under Airflow's KubernetesExecutor: a many-core node pool, Guaranteed QoS.

Celery deployments send the train task to a dedicated worker through its queue; on Kubernetes
the same task gets its own pod instead, shaped here. The shape is plain data (a Pod manifest as
a dict, the same field names as ``kubectl get pod -o json``) so it can be read, tested and
printed without the ``kubernetes`` client; it becomes a ``kubernetes.client.V1Pod`` only when
the configured executor is the KubernetesExecutor, so parsing the DAG under Celery imports
nothing more.

Sized by environment variables of the process that parses the DAG (the dag-processor): the pod
override is computed at parse time and stored with the serialized DAG.

    TOPICTENSOR_TRAIN_POD_CPUS                whole CPUs, request = limit (default 64); also numba's threads
    TOPICTENSOR_TRAIN_POD_MEMORY              request = limit (default 128Gi; formula in the README)
    TOPICTENSOR_TRAIN_POD_EPHEMERAL_STORAGE   local scratch for S3 copies of the training split (default 200Gi)
    TOPICTENSOR_TRAIN_NODE_SELECTOR           key=value[,key=value] (default topictensor.io/pool=train)
    TOPICTENSOR_TRAIN_TOLERATIONS             key=value:Effect[,...] (default topictensor.io/pool=train:NoSchedule)

Requests equal to limits for CPU and memory give the pod Guaranteed QoS: with the kubelet's
static CPU manager it gets whole cores to itself, and it is the last to be evicted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

# KubernetesExecutor merges a pod_override into its pod template container by container name;
# the container that runs the task is always called "base".
BASE_CONTAINER = "base"
SCRATCH_DIR = "/opt/airflow/s3-cache"  # TOPICTENSOR_CACHE_DIR in the image

DEFAULTS = {
    "TOPICTENSOR_TRAIN_POD_CPUS": "64",
    "TOPICTENSOR_TRAIN_POD_MEMORY": "128Gi",
    "TOPICTENSOR_TRAIN_POD_EPHEMERAL_STORAGE": "200Gi",
    "TOPICTENSOR_TRAIN_NODE_SELECTOR": "topictensor.io/pool=train",
    "TOPICTENSOR_TRAIN_TOLERATIONS": "topictensor.io/pool=train:NoSchedule",
}

_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


class PodOverrideError(ValueError):
    """A TOPICTENSOR_TRAIN_* variable does not describe a valid pod; the message names it."""


def _setting(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    return DEFAULTS[name] if value is None or value.strip() == "" else value.strip()


def _quantity(env: Mapping[str, str], name: str) -> str:
    value = _setting(env, name)
    if not _QUANTITY.fullmatch(value):
        raise PodOverrideError(f"{name}={value!r} is not a Kubernetes quantity such as 128Gi or 500G")
    return value


def _cpus(env: Mapping[str, str]) -> int:
    name = "TOPICTENSOR_TRAIN_POD_CPUS"
    value = _setting(env, name)
    if not value.isdigit() or int(value) < 1:
        raise PodOverrideError(f"{name}={value!r} must be a whole number of CPUs (it is also numba's thread count)")
    return int(value)


def _label_pairs(env: Mapping[str, str], name: str) -> list[tuple[str, str]]:
    pairs = []
    for item in filter(None, (part.strip() for part in _setting(env, name).split(","))):
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value) or len(value) > 63:
            raise PodOverrideError(f"{name}: {item!r} is not key=value with a valid Kubernetes label key and value")
        pairs.append((key, value))
    return pairs


def _tolerations(env: Mapping[str, str]) -> list[dict[str, str]]:
    name = "TOPICTENSOR_TRAIN_TOLERATIONS"
    tolerations = []
    for item in filter(None, (part.strip() for part in _setting(env, name).split(","))):
        taint, sep, effect = item.rpartition(":")
        if not sep or effect not in _EFFECTS:
            raise PodOverrideError(f"{name}: {item!r} must be key=value:Effect with Effect one of {sorted(_EFFECTS)}")
        key, has_value, value = taint.partition("=")
        if not _LABEL_KEY.fullmatch(key):
            raise PodOverrideError(f"{name}: {item!r} has an invalid taint key {key!r}")
        toleration = {"key": key, "operator": "Equal" if has_value else "Exists", "effect": effect}
        if has_value:
            toleration["value"] = value
        tolerations.append(toleration)
    return tolerations


def train_pod_spec(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The train pod override as a plain Pod manifest (dict), sized from the environment."""
    env = os.environ if env is None else env
    cpus = _cpus(env)
    memory = _quantity(env, "TOPICTENSOR_TRAIN_POD_MEMORY")
    scratch = _quantity(env, "TOPICTENSOR_TRAIN_POD_EPHEMERAL_STORAGE")
    resources = {"cpu": str(cpus), "memory": memory, "ephemeral-storage": scratch}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "labels": {"app.kubernetes.io/part-of": "topictensor", "app.kubernetes.io/component": "train"},
            # a cluster autoscaler must not evict a run that may last days to pack nodes tighter
            "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        },
        "spec": {
            "containers": [{
                "name": BASE_CONTAINER,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                # numba and OpenMP size their pools from the node's cores, not the pod's share
                "env": [{"name": "NUMBA_NUM_THREADS", "value": str(cpus)},
                        {"name": "OMP_NUM_THREADS", "value": str(cpus)}],
                "volumeMounts": [{"name": "train-scratch", "mountPath": SCRATCH_DIR}],
            }],
            "nodeSelector": dict(_label_pairs(env, "TOPICTENSOR_TRAIN_NODE_SELECTOR")),
            "tolerations": _tolerations(env),
            "volumes": [{"name": "train-scratch", "emptyDir": {"sizeLimit": scratch}}],
        },
    }


def to_v1pod(spec: Mapping[str, Any]):
    """The manifest as ``kubernetes.client.V1Pod`` (what KubernetesExecutor's pod_override takes)."""
    from kubernetes.client import models as k8s

    meta, pod = spec.get("metadata", {}), spec["spec"]
    containers = [
        k8s.V1Container(
            name=c["name"],
            resources=k8s.V1ResourceRequirements(requests=c["resources"]["requests"], limits=c["resources"]["limits"]),
            env=[k8s.V1EnvVar(name=e["name"], value=e["value"]) for e in c.get("env", [])],
            volume_mounts=[k8s.V1VolumeMount(name=m["name"], mount_path=m["mountPath"]) for m in c.get("volumeMounts", [])],
        )
        for c in pod["containers"]
    ]
    return k8s.V1Pod(
        api_version=spec.get("apiVersion"),
        kind=spec.get("kind"),
        metadata=k8s.V1ObjectMeta(labels=meta.get("labels"), annotations=meta.get("annotations")),
        spec=k8s.V1PodSpec(
            containers=containers,
            node_selector=pod.get("nodeSelector"),
            tolerations=[k8s.V1Toleration(key=t["key"], operator=t["operator"], value=t.get("value"), effect=t["effect"])
                         for t in pod.get("tolerations", [])],
            volumes=[k8s.V1Volume(name=v["name"], empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=v["emptyDir"]["sizeLimit"]))
                     for v in pod.get("volumes", [])],
        ),
    )


def configured_executors(setting: str | None = None) -> list[str]:
    """Class names of the executors in ``[core] executor`` (a comma list; entries may be
    ``alias:module.path.ClassName``), first = the default one."""
    if setting is None:
        from airflow.sdk.configuration import conf

        setting = conf.get("core", "executor")
    return [entry.strip().split(":")[-1].split(".")[-1] for entry in setting.split(",") if entry.strip()]


def train_executor(setting: str | None = None) -> str | None:
    """``"KubernetesExecutor"`` when it is configured beside another default executor (Celery for
    everything, a pod for training); None when it is the only or default one, or absent."""
    executors = configured_executors(setting)
    if "KubernetesExecutor" in executors[1:]:
        return "KubernetesExecutor"
    return None


def train_executor_config(env: Mapping[str, str] | None = None, setting: str | None = None) -> dict[str, Any]:
    """``executor_config`` of the train task: a pod_override under KubernetesExecutor, else empty
    (Celery ignores it, and the kubernetes client is then never imported)."""
    if "KubernetesExecutor" not in configured_executors(setting):
        return {}
    return {"pod_override": to_v1pod(train_pod_spec(env))}
