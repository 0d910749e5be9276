"""Choosing a tf.distribute strategy: one device, several GPUs, or several machines.

All of the work (replicating variables, splitting the global batch, all-reducing
gradients, sharding the input) is TensorFlow's; this module only picks the strategy and
says which process may write the model directory.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from nextword.errors import NextwordError

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """auto: MultiWorkerMirrored when TF_CONFIG describes a cluster, Mirrored when there is
    more than one GPU, else the default strategy (one GPU or the CPU)."""
    if name not in STRATEGIES:
        raise NextwordError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
    if name == "auto":
        if _cluster():
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        if not _cluster():
            raise NextwordError("--strategy multiworker needs TF_CONFIG describing the cluster "
                                "(see docs/usage.md: on several machines)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _cluster() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError:
        raise NextwordError("TF_CONFIG is not valid JSON") from None


def workers(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The process that writes the model: the chief, else worker 0, else the only one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def prebuild_for_workers(model, strategy: tf.distribute.Strategy, dataset: tf.data.Dataset) -> None:
    """Work around keras-team/keras#20585 (open; Keras 3.15): under
    MultiWorkerMirroredStrategy, `fit` builds the model from a first input batch that it
    all-reduces with MEAN, which fails on a PerReplica value. Only that batch's shapes and
    dtypes are used, so build the model, loss, metrics and optimizer state from zeros of the
    dataset's element_spec here and skip the probe. The dataset itself is not iterated: a
    seeded reshuffling dataset shares its seed generator between iterators, so drawing a
    batch here would hand `fit` the second shuffle order instead of the first."""
    def zeros(spec):  # unknown dimensions (the window length) do not matter for building
        return tf.zeros([d if d is not None else 1 for d in spec.shape], spec.dtype)

    sample = tf.nest.map_structure(zeros, dataset.element_spec)
    with strategy.scope():
        model._symbolic_build(data_batch=sample)
        model.optimizer.build(model.trainable_variables)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    _patch_scalar_mean_reduction()


def _patch_scalar_mean_reduction() -> None:
    """Second half of keras-team/keras#20585: under multi-worker strategies Keras reduces
    each step's logs with strategy.reduce("MEAN", v, axis=0), which fails for the scalar
    loss. Reduce scalars with axis=None (the same mean over replicas); leave the rest."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    if getattr(original, "_nextword_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            def reduce(v):
                rank = v.values[0].shape.rank if hasattr(v, "values") else v.shape.rank
                return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)
            return tf_trainer.tree.map_structure(reduce, values)
        return original(values, strategy, reduction)

    reduce_per_replica._nextword_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica
