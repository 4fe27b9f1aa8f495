"""CondenseNet: a DenseNet whose 1x1 convolutions learn their group structure while training.

Huang, Liu, van der Maaten, Weinberger. "CondenseNet: An Efficient DenseNet using Learned Group
Convolutions", 2017, arXiv:1711.09224. Its ImageNet comparison table (CondenseNet-74 with
C = G = 4: 4.8M parameters, 529M multiply-adds, 26.2% top-1 error; with C = G = 8: 2.9M,
274M, 29.0%; the same figures in the authors' README) gives the two networks registered
here; their layout is the authors' (``ShichenLiu/CondenseNet``, ``--stages 4-6-8-10-8
--growth 8-16-32-64-128``):

- a 3x3/2 convolution of 16 (2 x the first growth rate) channels, then five dense blocks of
  4, 6, 8, 10, 8 layers with growth rates 8, 16, 32, 64, 128 (the paper's "increasing growth
  rate"), separated by 2x2/2 average pooling only (full dense connectivity: no transition
  convolution), a final BN-ReLU, global average pooling and the classifier;
- each dense layer: BN-ReLU-1x1 *learned group convolution* (4k channels, G groups,
  condensation factor C) then BN-ReLU-3x3 group convolution (k channels, G groups), its k new
  channels concatenated onto its input.

Two builds of one architecture:

- the default, ``condensed=False``, is the **training network** (Fig. 1, middle): each 1x1 is a
  :class:`~keras_convnets.layers.learned_group_conv.LearnedGroupConv`, a dense 1x1 convolution
  with a 0/1 mask that training condenses on the paper's schedule (:class:`CondensationSchedule`
  in ``model.fit``, or :func:`condense`): C - 1 condensing stages over the first half of
  training -- after stage k each of the G groups keeps ``1 - k/C`` of the input channels, the
  ones with the largest L1 norm of its weights -- then optimisation. The classifier reads the
  pooled features through a :class:`~keras_convnets.layers.learned_group_conv.ChannelMask`
  that keeps half of them at the last condensing stage (below);
- ``condensed=True`` is the **deployed network** (Fig. 1, right) that :func:`condense_model`
  makes of a trained one with the same outputs: per dense layer an index layer
  (:class:`~keras_convnets.layers.channel_gather.ChannelGather`) gathering the channels each
  group kept, BN-ReLU, a 1x1 group convolution and a channel shuffle; the classifier gathers the
  features it kept. It is pytorchcv's ``condensenet74_c4_g4`` / ``condensenet74_c8_g8`` (the
  authors' converted models), whose weights -- index buffers included -- port with equal logits.

Counts. The registry's ``params``/``flops`` are the deployed network's (its ``count_options``
build it with ``condensed=True``), the reference table's rows: 4,773,944 trainable parameters
and 1,033,281,152 FLOPs (C = G = 4; the paper's 4.8M and 529M multiply-adds) and 2,935,416 and
523,091,584 (C = G = 8; 2.9M, 274M). The training network holds every 1x1 weight before
condensation and the full classifier: 11,922,680 (C = G = 4) and 11,103,608 (C = G = 8)
trainable parameters; condensation drops (1 - 1/C) of each learned 1x1 kernel and half of the
classifier's weights, which is exactly the difference.

The classifier: the authors' conversion (``CondensingLinear(drop_rate=0.5)``) keeps the half
of the pooled features on which the trained classifier's weights have the largest L1 norm and
drops the rest *after* training, which changes the outputs. Here the same selection is made
at the end of the last condensing stage (training progress 0.5), so that the optimisation half
of training adapts to it and the conversion changes no output.

Options: ``condensed`` (above); ``group_lasso``, the weight of the paper's group-lasso
penalty on each learned group convolution during condensation (0, the authors' code's
default: none); ``drop_rate``, dropout before the classifier. Normalisation is batch norm only
(the index layer commutes with it).

Feature maps: ``<model>_stage<N>_out`` is dense block N's output (strides 2, 4, 8, 16, 32);
the last is the final BN-ReLU's. Layers: ``init_block_conv``; ``stage<S>_trans_pool``;
``stage<S>_unit<U>_conv1_bn``, ``_conv1_relu``, ``_conv1_conv`` (deployed: ``_conv1_index``
first, ``_conv1_shuffle`` after), ``_conv2_bn``, ``_conv2_relu``, ``_conv2_conv``, ``_concat``;
``post_activ_bn``; ``output_mask`` (deployed: ``output_index``), ``logits``.
"""

import dataclasses
import re

import numpy as np

from ..applications import build_model
from ..applications.builder import CONV_INITIALIZER, Head
from ..backend import keras
from ..flops import leaf_layers
from ..layers.channel_gather import ChannelGather
from ..layers.channel_shuffle import ChannelShuffle
from ..layers.learned_group_conv import ChannelMask, LearnedGroupConv
from ..registry import Paper, Reference, list_models, register
from ..utils import check_bool, check_positive_int

CONDENSENET = Paper("CondenseNet: An Efficient DenseNet using Learned Group Convolutions", 2017,
                    "1711.09224")

__all__ = ["CondenseNetConfig", "build_condensenet", "condensation_stage", "condense",
           "CondensationSchedule", "condense_model", "CondenseNet74_C4_G4",
           "CondenseNet74_C8_G8"]


@dataclasses.dataclass(frozen=True)
class CondenseNetConfig:
    """One CondenseNet: the dense layers of each block and each block's growth rate, the
    stem's width, the groups G of the 1x1 and 3x3 convolutions, the condensation factor C, the
    bottleneck width factor (4k) and the fraction of pooled features the classifier keeps."""

    blocks: tuple = (4, 6, 8, 10, 8)
    growth: tuple = (8, 16, 32, 64, 128)
    groups: int = 4
    condense_factor: int = 4
    init_features: int = 16
    bottleneck: int = 4
    classifier_keep: float = 0.5


def _check_config(cfg):
    for argument in ("blocks", "growth"):
        value = getattr(cfg, argument)
        if not (isinstance(value, tuple) and value and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            raise ValueError(f"`{argument}` must be a non-empty tuple of positive integers; "
                             f"got {value!r}.")
    if len(cfg.blocks) != len(cfg.growth):
        raise ValueError(f"`growth` needs one rate per block: {len(cfg.blocks)} blocks "
                         f"{cfg.blocks}, got growth={cfg.growth!r}.")
    groups = check_positive_int("groups", cfg.groups)
    factor = check_positive_int("condense_factor", cfg.condense_factor)
    check_positive_int("init_features", cfg.init_features)
    check_positive_int("bottleneck", cfg.bottleneck)
    keep = cfg.classifier_keep
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise ValueError(f"`classifier_keep` must be a number in (0, 1]; got {keep!r}.")
    for rate in cfg.growth:
        if rate % groups:
            raise ValueError(
                f"`groups`={groups} does not divide the growth rate {rate} (growth="
                f"{cfg.growth}): the 3x3 group convolution makes k channels in G groups; every "
                f"growth rate must be a multiple of `groups`.")
    channels = cfg.init_features
    for block, (layers, rate) in enumerate(zip(cfg.blocks, cfg.growth), start=1):
        for unit in range(1, layers + 1):
            if channels % factor:
                raise ValueError(
                    f"`condense_factor`={factor} does not divide the {channels} input channels "
                    f"of stage{block}_unit{unit}'s learned group convolution (each group keeps "
                    f"1/C of them); C must divide init_features and every block's input "
                    f"widths.")
            channels += rate


def build_condensenet(model_name, cfg, *, condensed=False, group_lasso=0.0, drop_rate=0.0,
                      norm="batch", **kwargs):
    """The generic CondenseNet builder: ``condensed=False`` the training network (learned
    group convolutions), ``condensed=True`` the deployed one (index + group convolution +
    shuffle); see the module docstring."""
    _check_config(cfg)
    condensed = check_bool("condensed", condensed)
    if norm != "batch":
        raise ValueError(f"`norm` must be one of 'batch'; got {norm!r}: CondenseNet is batch norm "
                         f"only (its deployed index layers commute with per-channel batch norm).")
    if isinstance(group_lasso, bool) or not isinstance(group_lasso, (int, float)) or \
            not group_lasso >= 0:
        raise ValueError(f"`group_lasso` must be a number >= 0; got {group_lasso!r}.")
    if condensed and group_lasso:
        raise ValueError(f"`group_lasso`={group_lasso} regularises the training network's "
                         f"learned group convolutions; the deployed network (condensed=True) "
                         f"has none.")
    groups, factor = cfg.groups, cfg.condense_factor

    def learned_1x1(ctx, x, filters, name):
        x = ctx.relu(ctx.norm(x, name + "_bn"), name + "_relu")
        return LearnedGroupConv(filters, groups, factor, group_lasso=group_lasso,
                                kernel_initializer=CONV_INITIALIZER,
                                name=ctx.name(name + "_conv"))(x)

    def condensed_1x1(ctx, x, filters, name):
        x = ChannelGather(int(x.shape[-1]) * groups // factor, name=ctx.name(name + "_index"))(x)
        x = ctx.relu(ctx.norm(x, name + "_bn"), name + "_relu")
        x = ctx.conv(x, filters, 1, name + "_conv", groups=groups)
        return ChannelShuffle(groups, name=ctx.name(name + "_shuffle"))(x) if groups > 1 else x

    pointwise = condensed_1x1 if condensed else learned_1x1

    def body(ctx, x):
        x = ctx.conv(x, cfg.init_features, 3, "init_block_conv", strides=2)
        last = len(cfg.blocks)
        for stage, (layers, rate) in enumerate(zip(cfg.blocks, cfg.growth), start=1):
            if stage > 1:
                x = keras.layers.AveragePooling2D(
                    2, 2, name=ctx.name(f"stage{stage}_trans_pool"))(x)
            for unit in range(1, layers + 1):
                name = f"stage{stage}_unit{unit}"
                y = pointwise(ctx, x, cfg.bottleneck * rate, name + "_conv1")
                y = ctx.relu(ctx.norm(y, name + "_conv2_bn"), name + "_conv2_relu")
                y = ctx.conv(y, rate, 3, name + "_conv2_conv", groups=groups)
                out = f"stage{stage}_out" if unit == layers and stage < last else name + "_concat"
                x = keras.layers.Concatenate(name=ctx.name(out))([x, y])
        return ctx.relu(ctx.norm(x, "post_activ_bn"), f"stage{last}_out")

    def classifier_input(ctx, x):
        if condensed:
            return ChannelGather(int(int(x.shape[-1]) * cfg.classifier_keep),
                                 name=ctx.name("output_index"))(x)
        return ChannelMask(cfg.classifier_keep, name=ctx.name("output_mask"))(x)

    return build_model(model_name, body, head=Head(hidden=classifier_input), drop_rate=drop_rate,
                       norm=norm, **kwargs)


def tiny_config(cfg):
    """The same topology (five blocks, G and C) at a fraction of the cost: one layer per block
    but two in the first, every growth rate G (the smallest a G-group 3x3 allows), a stem of
    2G channels."""
    g = cfg.groups
    return dataclasses.replace(cfg, blocks=(2, 1, 1, 1, 1), growth=(g,) * 5, init_features=2 * g)


CONDENSENETS = dict(family="condensenet", paper=CONDENSENET, tiny=tiny_config,
                    stage_strides=(2, 4, 8, 16, 32), count_options={"condensed": True},
                    options={"drop_rate": 0.0, "norm": "batch", "condensed": False,
                             "group_lasso": 0.0},
                    generic_builder="build_condensenet")


@register(**CONDENSENETS, config=CondenseNetConfig(groups=4, condense_factor=4),
          params=4_773_944, flops=1_033_281_152,
          reference=Reference("pytorchcv", "condensenet74_c4_g4",
                              note="the deployed network: condensed=True"))
def CondenseNet74_C4_G4(config, **kwargs):
    """CondenseNet-74 with C = G = 4 (Huang et al., "CondenseNet: An Efficient DenseNet using
    Learned Group Convolutions", 2017, arXiv:1711.09224, ImageNet table: 4.8M parameters,
    529M multiply-adds, 26.2% top-1 error). Built as the training network (learned group
    convolutions, 11,922,680 trainable parameters before condensation); ``condensed=True``
    builds the deployed network, pytorchcv's ``condensenet74_c4_g4``: 4,773,944 trainable
    parameters and 1,033,281,152 FLOPs, the registry's counts. The ported ImageNet weights
    are the deployed network's (``weights="imagenet"`` builds it with condensed=True)."""
    return build_condensenet("condensenet74_c4_g4", config, **kwargs)


@register(**CONDENSENETS, config=CondenseNetConfig(groups=8, condense_factor=8),
          params=2_935_416, flops=523_091_584,
          reference=Reference("pytorchcv", "condensenet74_c8_g8",
                              note="the deployed network: condensed=True"))
def CondenseNet74_C8_G8(config, **kwargs):
    """CondenseNet-74 with C = G = 8 (Huang et al., "CondenseNet: An Efficient DenseNet using
    Learned Group Convolutions", 2017, arXiv:1711.09224, ImageNet table: 2.9M parameters,
    274M multiply-adds, 29.0% top-1 error). Built as the training network (11,103,608 trainable
    parameters before condensation); ``condensed=True`` builds the deployed network,
    pytorchcv's ``condensenet74_c8_g8``: 2,935,416 trainable parameters and 523,091,584
    FLOPs, the registry's counts. The ported ImageNet weights are the deployed network's
    (``weights="imagenet"`` builds it with condensed=True)."""
    return build_condensenet("condensenet74_c8_g8", config, **kwargs)


# -- the condensation schedule -------------------------------------------------------------------
def condensation_stage(progress, condense_factor):
    """The condensing stage the paper's schedule has reached at training ``progress`` (the
    fraction of training steps done, 0 to 1): C - 1 stages of equal length over the first half,
    stage k reached at progress ``k / (2 (C - 1))``, so the last (C - 1) at 0.5; the authors'
    ``LearnedGroupConv._check_drop``."""
    check_positive_int("condense_factor", condense_factor)
    if isinstance(progress, bool) or not isinstance(progress, (int, float, np.floating)) or \
            not 0 <= progress <= 1:
        raise ValueError(f"`progress` must be a number in [0, 1]; got {progress!r}.")
    if condense_factor == 1:
        return 0
    return min(condense_factor - 1, int(np.floor(2 * progress * (condense_factor - 1) + 1e-9)))


def _learned_layers(model):
    return [layer for layer in leaf_layers(model) if isinstance(layer, LearnedGroupConv)]


def _classifiers(model):
    """(ChannelMask, Dense) pairs: each ``<model>_output_mask`` and the ``<model>_logits``
    that reads it."""
    by_name = {layer.name: layer for layer in leaf_layers(model)}
    pairs = []
    for layer in by_name.values():
        if isinstance(layer, ChannelMask) and layer.name.endswith("_output_mask"):
            dense = by_name.get(layer.name[:-len("output_mask")] + "logits")
            if dense is None:
                raise ValueError(f"{layer.name}: no classifier ({layer.name[:-11]}logits) "
                                 f"reads it.")
            pairs.append((layer, dense))
    return pairs


def _select_classifier_features(mask, dense):
    """The authors' ``CondensingLinear`` rule: keep the features on which the classifier's
    weights have the largest L1 norm (summed over the classes)."""
    kernel = np.asarray(dense.kernel.numpy() if hasattr(dense.kernel, "numpy") else dense.kernel)
    return mask.select(np.abs(kernel).sum(axis=1))


def condense(model, progress):
    """Condenses a CondenseNet training network to where the paper's schedule is at training
    ``progress`` (0 to 1): every learned group convolution to :func:`condensation_stage`, and
    from progress 0.5 (the last stage) the classifier's feature selection. Condensing never
    goes back; a layer already there is left alone. Returns the layers it changed.

    ``condense(model, 1.0)`` condenses fully at once (for a model trained without the schedule,
    which then needs fine-tuning, as the paper's optimisation half does)."""
    layers = _learned_layers(model)
    if not layers:
        raise ValueError(f"`model` {model.name!r} has no learned group convolution: condense "
                         f"takes a CondenseNet training network (condensed=False).")
    changed = []
    for layer in layers:
        target = condensation_stage(progress, layer.condense_factor)
        if target > layer.stage:
            layer.condense(target)
            changed.append(layer)
    if progress >= 0.5:
        for mask, dense in _classifiers(model):
            if not mask.selected:
                _select_classifier_features(mask, dense)
                changed.append(mask)
    return changed


class CondensationSchedule(keras.callbacks.Callback):
    """Condenses a CondenseNet training network on the paper's schedule during ``model.fit``.

    Before each training batch the progress ``(epoch * steps + batch) / (epochs * steps)`` sets
    the stage of every learned group convolution (:func:`condensation_stage`: C - 1 stages over
    the first half of training, each group keeping ``1 - k/C`` of its inputs after stage k),
    and at 0.5 the classifier's feature selection (:func:`condense`). ``epochs`` defaults to
    ``fit``'s, ``steps_per_epoch`` to ``fit``'s steps; where those are unknown (a dataset of
    unknown length) the progress moves once an epoch, ``epoch / epochs``. Works under Keras 3
    and legacy ``tf_keras``; the masks are variables, so a compiled train step sees each change.
    """

    def __init__(self, epochs=None, steps_per_epoch=None):
        super().__init__()
        self.epochs = None if epochs is None else check_positive_int("epochs", epochs)
        self.steps_per_epoch = (None if steps_per_epoch is None
                                else check_positive_int("steps_per_epoch", steps_per_epoch))
        self._epoch = 0
        self._applied = None
        #: (epoch, batch, progress) of every condensation that changed a layer
        self.history = []

    def _plan(self):
        params = getattr(self, "params", None) or {}
        epochs = self.epochs or params.get("epochs")
        if not epochs:
            raise ValueError("CondensationSchedule needs `epochs` (fit's are unknown here).")
        return epochs, self.steps_per_epoch or params.get("steps")

    def on_train_begin(self, logs=None):
        self._factors = sorted({layer.condense_factor for layer in _learned_layers(self.model)})
        if not self._factors:
            raise ValueError(f"CondensationSchedule: {self.model.name!r} has no learned group "
                             f"convolution (a CondenseNet training network, condensed=False).")
        self._applied = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        epochs, steps = self._plan()
        if steps:
            progress = (self._epoch * steps + batch) / (epochs * steps)
        else:
            progress = self._epoch / epochs
        progress = min(1.0, progress)
        key = (tuple(condensation_stage(progress, c) for c in self._factors), progress >= 0.5)
        if key != self._applied:
            if condense(self.model, progress):
                self.history.append((self._epoch, batch, progress))
            self._applied = key


# -- conversion to the deployed network ----------------------------------------------------------
_UNIT = re.compile(r"stage(\d+)_unit(\d+)_conv1_conv")


def _architecture(model):
    """The builder arguments that make the deployed twin of a training network: its
    configuration read from its layers, and the classifier top as built."""
    prefix = model.name + "_"
    layers = {layer.name[len(prefix):]: layer for layer in model.layers
              if layer.name.startswith(prefix)}
    learned = {}
    for key, layer in layers.items():
        match = _UNIT.fullmatch(key)
        if match and isinstance(layer, LearnedGroupConv):
            learned[tuple(map(int, match.groups()))] = layer
    if not learned or "init_block_conv" not in layers:
        raise ValueError(
            f"`model` {model.name!r} is not a CondenseNet training network: condense_model "
            f"takes a model built with condensed=False (learned group convolutions named "
            f"<model>_stage<S>_unit<U>_conv1_conv).")
    stages = sorted({stage for stage, _ in learned})
    blocks = tuple(max(u for s, u in learned if s == stage) for stage in stages)
    growth = tuple(int(layers[f"stage{s}_unit1_conv2_conv"].filters) for s in stages)
    first = learned[(1, 1)]
    top = "logits" in layers
    cfg = CondenseNetConfig(
        blocks=blocks, growth=growth, groups=first.groups, condense_factor=first.condense_factor,
        init_features=int(layers["init_block_conv"].filters),
        bottleneck=first.filters // growth[0],
        classifier_keep=layers["output_mask"].keep if top else 0.5)
    arguments = dict(include_top=top, input_shape=tuple(model.inputs[0].shape[1:]),
                     name=model.name, condensed=True)
    if top:
        arguments["classes"] = int(layers["logits"].units)
        activation = layers["predictions"].get_config()["activation"]
        arguments["classifier_activation"] = None if activation == "linear" else activation
        dropout = layers.get("head_dropout")
        arguments["drop_rate"] = float(dropout.rate) if dropout is not None else 0.0
    else:
        arguments["pooling"] = ("avg" if "avg_pool" in layers
                                else "max" if "max_pool" in layers else None)
    return cfg, arguments, learned, layers


def _registered_name(model_name):
    base = re.sub(r"_\d+$", "", model_name)
    names = list_models(family="condensenet")
    return base if base in names else names[0]


def condense_model(model):
    """The deployed network of a condensed CondenseNet training network, with the same
    outputs (to float rounding): the network ``condensed=True`` builds, same name and layer
    names, same input size and top, its weights taken from ``model``.

    Each learned group convolution becomes an index layer gathering the input channels its
    groups kept (group after group), the BN of its input gathered the same way, a 1x1 group
    convolution of the kept weights and a channel shuffle; the classifier gathers the pooled
    features its mask kept and keeps only their weights. ``model`` must be fully condensed
    (:class:`CondensationSchedule` through training, or ``condense(model, 1.0)``)."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a Keras model; got {type(model).__name__}.")
    cfg, arguments, learned, layers = _architecture(model)
    unfinished = [layer.name for layer in learned.values() if layer.stage != layer.final_stage]
    masks = [layers["output_mask"]] if "output_mask" in layers else []
    unfinished += [mask.name for mask in masks if not mask.selected]
    if unfinished:
        raise ValueError(
            f"`model` {model.name!r} is not fully condensed ({len(unfinished)} layers, e.g. "
            f"{unfinished[0]}): train it with CondensationSchedule, or call condense(model, "
            f"1.0) first.")
    deployed = build_condensenet(_registered_name(model.name), cfg, **arguments)
    prefix = deployed.name + "_"
    indices = {}
    for (stage, unit), layer in learned.items():
        indices[f"stage{stage}_unit{unit}_conv1"] = layer.condensed_weights()
    for layer in deployed.layers:
        if not layer.weights:
            continue
        key = layer.name[len(prefix):]
        unit, _, part = key.rpartition("_")
        if unit in indices:
            index, kernel = indices[unit]
            if part == "index":
                layer.set_weights([index])
            elif part == "bn":
                layer.set_weights([w[index] for w in layers[key].get_weights()])
            else:
                layer.set_weights([kernel])
        elif key == "output_index":
            layer.set_weights([layers["output_mask"].kept_channels().astype("int32")])
        elif key == "logits":
            kept = layers["output_mask"].kept_channels()
            kernel, *bias = layers["logits"].get_weights()
            layer.set_weights([kernel[kept], *bias])
        else:
            layer.set_weights(layers[key].get_weights())
    return deployed
