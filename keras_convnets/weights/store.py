"""Named weight sets in the local Keras cache: where they live, how they are verified, loaded.

A ported weight set is two files in ``$KERAS_HOME/models/keras_convnets/`` (``~/.keras`` by
default): ``<model>.<tag>.weights.h5`` and its sidecar ``<model>.<tag>.json`` (source, license,
sha256, mapping version, the builder options it needs, the logit difference measured when it
was made). Nothing here touches the network: ``keras-convnets port`` creates the files.
"""

import hashlib
import json
import os
import re

MAPPING_VERSION = 1
#: the tag of pretrained weights, and the default tag of a randomly initialised port
PRETRAINED_TAG, RANDOM_INIT_TAG = "imagenet", "random-init"
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def cache_dir():
    """``$KERAS_HOME/models/keras_convnets`` (``~/.keras/...`` when KERAS_HOME is unset)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", "keras_convnets")


def is_named(weights):
    """True for a weight-set tag such as ``"imagenet"``; False for None or a file path."""
    return (isinstance(weights, str) and bool(_TAG.match(weights))
            and not weights.endswith((".h5", ".keras")) and not os.path.exists(weights))


def paths(model_name, tag, directory=None):
    directory = directory or cache_dir()
    stem = os.path.join(directory, f"{model_name}.{tag}")
    return stem + ".weights.h5", stem + ".json"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _port_command(model_name):
    from . import default_source

    source = default_source(model_name)
    if source is None:
        return "no reference implementation is known for this model, so none can be ported"
    return (f"create it with: keras-convnets port {model_name} --from {source} "
            f"(needs: pip install 'keras_convnets[port]'; the reference library downloads its "
            f"own pretrained weights)")


def resolve(model_name, tag):
    """Finds and verifies the named weight set; returns its sidecar dict with ``"path"`` set."""
    weights_path, sidecar_path = paths(model_name, tag)
    if not (os.path.isfile(weights_path) and os.path.isfile(sidecar_path)):
        raise ValueError(
            f"`weights`={tag!r}: no ported weight set for {model_name} in {cache_dir()}; "
            f"{_port_command(model_name)}.")
    with open(sidecar_path) as f:
        record = json.load(f)
    actual = sha256(weights_path)
    if actual != record.get("sha256"):
        raise ValueError(
            f"`weights`={tag!r}: {weights_path} does not match the sha256 recorded in "
            f"{sidecar_path} (expected {record.get('sha256')}, got {actual}); the file is "
            f"corrupt or was modified. Delete both files and port again.")
    if record.get("mapping_version") != MAPPING_VERSION:
        raise ValueError(
            f"`weights`={tag!r}: {weights_path} was made with mapping version "
            f"{record.get('mapping_version')}, this version reads {MAPPING_VERSION}; port again.")
    if tag == PRETRAINED_TAG and record.get("pretrained") is False:
        raise ValueError(
            f"`weights`={tag!r}: {weights_path} holds a randomly initialised reference's "
            f"weights (its sidecar {sidecar_path} says pretrained: false), not pretrained "
            f"ones. Delete both files and port again without --random-init.")
    record["path"] = weights_path
    return record
