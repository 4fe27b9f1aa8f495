"""Registered names grouped by the tiny network they build, so that checks which depend only on
the network (the shared routine, TFLite conversion) run once per distinct network."""

import keras_convnets as kc


def input_size(spec):
    """The tiny networks' test input side: large enough that the deepest stage is 2x2, so
    strides are exact."""
    return max(spec.min_size, 2 * spec.stage_strides[-1])


def distinct_tiny_networks():
    """``{representative: [names building the same tiny network]}``: names that share the
    generic builder called, the tiny configuration, the options and the registration's sizes
    (all seven ResNeXt-50/101 names, the five scales of a ShuffleNet v1 group count, ...)."""
    groups = {}
    for spec in kc.registry.all_specs():
        key = (spec.module, spec.function.__code__.co_names, repr(spec.tiny), spec.options,
               spec.default_size, spec.min_size, spec.stage_strides, spec.default_classes)
        groups.setdefault(key, []).append(spec.name)
    return {names[0]: names for names in groups.values()}


TINY_NETWORKS = distinct_tiny_networks()
#: one name per distinct tiny network, sorted
REPRESENTATIVES = sorted(TINY_NETWORKS)
