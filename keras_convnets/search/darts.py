"""DARTS: differentiable architecture search, first order, in one Keras ``train_step``.

Liu, Simonyan, Yang. "DARTS: Differentiable Architecture Search", ICLR 2019, arXiv:1806.09055.

The super-network (Section 2.1, Fig. 1; the authors' ``model_search.py``): a stem (3x3 conv to
``3 * filters``, batch norm), ``cells`` cells with reduction cells at ``cells // 3`` and
``2 * cells // 3`` (channels doubled there), global average pooling and a linear classifier.
Each cell takes the two previous cells' outputs (preprocessed by ReLU-1x1-BN, or by a
factorised reduction where the previous cell reduced) and computes ``nodes`` nodes; node ``i``
sums one *mixed operation* per earlier state (``i + 2`` edges), and the cell concatenates its
last ``multiplier`` nodes. A mixed operation is ``sum_o softmax(alpha)_o * o(x)`` over the
candidate operations (:data:`DARTS_OPERATIONS`: DARTS' eight, the zero operation "none"
included); every normal cell shares one ``alpha`` (``edges x operations``), every reduction
cell another. As in DARTS' search, the operations' batch norms have no affine parameters and
each pooling is followed by such a batch norm. Padding is PyTorch's (symmetric ``k // 2``,
``2 * (k // 2)`` for the dilated convolutions; average pooling excludes the padding), so the
operations compute what DARTS' do.

Bilevel optimisation, first order (Section 2.3, Algorithm 1 with xi = 0): every training step
of :class:`DartsSearchNetwork` first updates ``alpha`` with the gradient of the loss on a
validation-split batch (Adam, lr 3e-4, betas (0.5, 0.999), L2 weight decay 1e-3 added to the
gradient as PyTorch's ``Adam(weight_decay=...)`` does), then the network weights with the
gradient on a training-split batch (SGD, momentum 0.9, lr 0.025 cosine-annealed to 0.001, L2
weight decay 3e-4, gradients clipped to global norm 5) -- DARTS' CIFAR-10 settings (Section
3.1.1). Each optimiser touches only its own variables.

Derivation (Section 2.4, ``genotype()`` of the authors' code): for every node keep the two
incoming edges whose strongest non-zero operation has the largest softmax weight, and on each
the strongest non-zero operation; the cell concatenates all its nodes.

Works with Keras 3 on TensorFlow and with legacy ``tf_keras`` (``TF_USE_LEGACY_KERAS=1``): the
layers compute with ``tf.*`` ops and the training step uses ``tf.GradientTape`` and the two
optimisers' ``apply_gradients``, which both worlds provide.
"""

import dataclasses
import json
import os
import time

import numpy as np

from ..backend import USE_LEGACY_KERAS, keras, register_serializable, tf
from ..models.genotype import OPERATIONS, Genotype
from ..utils import check_bool, check_choice, check_positive_int

#: DARTS' candidate operations (``PRIMITIVES`` of the authors' ``genotypes.py``, same order).
DARTS_OPERATIONS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
#: What :class:`SearchOperation` computes: DARTS' operations and the cells' ReLU-1x1-BN.
SEARCH_OPERATIONS = DARTS_OPERATIONS + ("conv_1x1",)
BN_MOMENTUM = 0.9  # PyTorch's 0.1
BN_EPSILON = 1e-5


def _pad(x, pad, value=0.0):
    if not pad:
        return x
    return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=value)


def _batch_norm(affine, name):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                           center=affine, scale=affine, name=name)


def _check_operations(operations, argument="operations"):
    if isinstance(operations, str) or not hasattr(operations, "__iter__"):
        raise ValueError(f"`{argument}` must be a list of operation names; got {operations!r}.")
    operations = tuple(operations)
    for op in operations:
        check_choice(argument, op, DARTS_OPERATIONS)
    if len(set(operations)) != len(operations):
        raise ValueError(f"`{argument}` names an operation twice: {list(operations)}.")
    if not [op for op in operations if op != "none"]:
        raise ValueError(f"`{argument}` needs at least one operation besides 'none'; "
                         f"got {list(operations)}.")
    return operations


@register_serializable
class FactorizedReduce(keras.layers.Layer):
    """DARTS' (and NASNet's) factorised reduction: ReLU, two 1x1 stride-2 convolutions to
    ``filters // 2`` channels each, the second on the input shifted by one pixel, concatenated,
    batch norm (``affine=False``: no scale and offset, as in the search).

    Output ``(batch, ceil(H / 2), ceil(W / 2), filters)``; ``filters`` must be even.
    """

    def __init__(self, filters, affine=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters, minimum=2)
        if filters % 2:
            raise ValueError(f"`filters` of a factorised reduction must be even (two halves); "
                             f"got {filters}.")
        self.affine = check_bool("affine", affine)
        self.conv1 = keras.layers.Conv2D(filters // 2, 1, strides=2, use_bias=False,
                                         name="conv1")
        self.conv2 = keras.layers.Conv2D(filters // 2, 1, strides=2, use_bias=False,
                                         name="conv2")
        self.bn = _batch_norm(self.affine, "bn")

    def call(self, inputs, training=None):
        x = tf.nn.relu(inputs)
        # the shifted path: x[1:, 1:], zero-padded at the end so both paths have ceil(H / 2)
        shifted = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
        return self.bn(tf.concat([self.conv1(x), self.conv2(shifted)], axis=-1),
                       training=training)

    def compute_output_shape(self, input_shape):
        def half(size):
            return None if size is None else -(-int(size) // 2)

        return (input_shape[0], half(input_shape[1]), half(input_shape[2]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, affine=self.affine)
        return config


@register_serializable
class SearchOperation(keras.layers.Layer):
    """One candidate operation of DARTS' search space (``OPS`` of the authors' code), input and
    output with ``filters`` channels:

    - ``"none"``: zeros (strided where ``strides`` is 2);
    - ``"max_pool_3x3"``, ``"avg_pool_3x3"``: 3x3 pooling, padding 1 (the average excludes the
      padding), followed by batch norm -- the search's extra norm on pooling;
    - ``"skip_connect"``: identity, or :class:`FactorizedReduce` at stride 2;
    - ``"sep_conv_KxK"``: (ReLU, depthwise KxK, pointwise 1x1, BN) twice, the first strided;
    - ``"dil_conv_KxK"``: ReLU, depthwise KxK with dilation 2, pointwise 1x1, BN;
    - ``"conv_1x1"``: ReLU, 1x1 convolution, BN (the cells' preprocessing).

    ``affine=False`` (the search) gives the batch norms no scale and offset.
    """

    def __init__(self, operation, filters, strides=1, affine=False, **kwargs):
        super().__init__(**kwargs)
        self.operation = check_choice("operation", operation, SEARCH_OPERATIONS)
        self.filters = check_positive_int("filters", filters)
        self.strides = check_choice("strides", strides, (1, 2))
        self.affine = check_bool("affine", affine)
        op = self.operation
        self.sublayers = []
        if op in ("max_pool_3x3", "avg_pool_3x3"):
            self.sublayers = [_batch_norm(self.affine, "bn")]
        elif op == "skip_connect" and self.strides == 2:
            self.sublayers = [FactorizedReduce(filters, affine=self.affine, name="reduce")]
        elif op.startswith(("sep_conv", "dil_conv")):
            self.kernel_size = int(op[-1])
            repeats = 2 if op.startswith("sep_conv") else 1
            for i in range(1, repeats + 1):
                self.sublayers += [
                    keras.layers.DepthwiseConv2D(
                        self.kernel_size, padding="valid", use_bias=False,
                        strides=self.strides if (i == 1 and op.startswith("sep")) else 1,
                        dilation_rate=2 if op.startswith("dil") else 1, name=f"dw{i}"),
                    keras.layers.Conv2D(filters, 1, use_bias=False, name=f"pw{i}"),
                    _batch_norm(self.affine, f"bn{i}")]
        elif op == "conv_1x1":
            self.sublayers = [
                keras.layers.Conv2D(filters, 1, strides=self.strides, use_bias=False,
                                    name="conv"),
                _batch_norm(self.affine, "bn")]

    def _avg_pool(self, x):
        # PyTorch's count_include_pad=False: the zero-padded sum over the count of real pixels
        ones = tf.ones_like(x[:1, :, :, :1])
        total = tf.nn.avg_pool2d(_pad(x, 1), 3, self.strides, "VALID")
        count = tf.nn.avg_pool2d(_pad(ones, 1), 3, self.strides, "VALID")
        return total / count

    def call(self, inputs, training=None):
        op, s = self.operation, self.strides
        x = inputs
        if op == "none":
            return tf.zeros_like(x[:, ::s, ::s, :])
        if op == "max_pool_3x3":
            x = tf.nn.max_pool2d(_pad(x, 1, float("-inf")), 3, s, "VALID")
            return self.sublayers[0](x, training=training)
        if op == "avg_pool_3x3":
            return self.sublayers[0](self._avg_pool(x), training=training)
        if op == "skip_connect":
            return x if s == 1 else self.sublayers[0](x, training=training)
        if op == "conv_1x1":
            conv, bn = self.sublayers
            return bn(conv(tf.nn.relu(x)), training=training)
        dilated = op.startswith("dil")
        pad = (2 if dilated else 1) * (self.kernel_size // 2)
        for i in range(0, len(self.sublayers), 3):
            dw, pw, bn = self.sublayers[i:i + 3]
            x = dw(_pad(tf.nn.relu(x), pad))
            if dilated and s > 1:  # TF has no strided dilated convolution: subsample
                x = x[:, ::s, ::s, :]
            x = bn(pw(x), training=training)
        return x

    def compute_output_shape(self, input_shape):
        def out(size):
            return None if size is None else -(-int(size) // self.strides)

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(operation=self.operation, filters=self.filters, strides=self.strides,
                      affine=self.affine)
        return config


@register_serializable
class MixedOp(keras.layers.Layer):
    """DARTS' mixed operation on one edge: called on ``[x, weights]`` with ``weights`` a vector
    of one weight per operation of ``operations`` (the softmax of the edge's alphas), returns
    ``sum_o weights[o] * o(x)``. The zero operation "none" adds nothing and is not computed
    (its weight still takes its share of the softmax)."""

    def __init__(self, filters, strides=1, operations=DARTS_OPERATIONS, affine=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.strides = check_choice("strides", strides, (1, 2))
        self.operations = _check_operations(operations)
        self.affine = check_bool("affine", affine)
        self.candidates = [SearchOperation(op, filters, self.strides, affine=self.affine,
                                           name=op)
                           for op in self.operations if op != "none"]
        self.indices = [i for i, op in enumerate(self.operations) if op != "none"]

    def call(self, inputs, training=None):
        x, weights = inputs
        total = None
        for index, op in zip(self.indices, self.candidates):
            term = weights[index] * op(x, training=training)
            total = term if total is None else total + term
        return total

    def compute_output_shape(self, input_shape):
        return self.candidates[0].compute_output_shape(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides,
                      operations=list(self.operations), affine=self.affine)
        return config


def edge_count(nodes):
    """Edges of a cell with ``nodes`` nodes: node ``i`` reads states ``0 .. i + 1``."""
    return sum(i + 2 for i in range(nodes))


@register_serializable
class SearchCell(keras.layers.Layer):
    """A DARTS search cell: called on ``[s0, s1, weights]`` (the cells before the previous one
    and the previous one, and the ``edges x operations`` softmax weights its kind shares),
    returns the concatenation of its last ``multiplier`` nodes (``multiplier * filters``
    channels, the spatial size halved where ``reduction``)."""

    def __init__(self, filters, reduction=False, reduction_prev=False, nodes=4, multiplier=4,
                 operations=DARTS_OPERATIONS, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.reduction = check_bool("reduction", reduction)
        self.reduction_prev = check_bool("reduction_prev", reduction_prev)
        self.nodes = check_positive_int("nodes", nodes)
        self.multiplier = check_positive_int("multiplier", multiplier)
        if self.multiplier > self.nodes:
            raise ValueError(f"`multiplier`={multiplier}: a cell concatenates at most its "
                             f"{nodes} nodes.")
        self.operations = _check_operations(operations)
        self.preprocess0 = (FactorizedReduce(filters, name="preprocess0") if reduction_prev
                            else SearchOperation("conv_1x1", filters, name="preprocess0"))
        self.preprocess1 = SearchOperation("conv_1x1", filters, name="preprocess1")
        self.edges = []
        for i in range(nodes):
            for j in range(i + 2):
                strides = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(filters, strides, self.operations,
                                          name=f"edge_{i + 2}_{j}"))

    def call(self, inputs, training=None):
        s0, s1, weights = inputs
        states = [self.preprocess0(s0, training=training),
                  self.preprocess1(s1, training=training)]
        offset = 0
        for _ in range(self.nodes):
            node = None
            for j, state in enumerate(states):
                term = self.edges[offset + j]([state, weights[offset + j]], training=training)
                node = term if node is None else node + term
            offset += len(states)
            states.append(node)
        return tf.concat(states[-self.multiplier:], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, reduction=self.reduction,
                      reduction_prev=self.reduction_prev, nodes=self.nodes,
                      multiplier=self.multiplier, operations=list(self.operations))
        return config


def derive_genotype(normal_weights, reduce_weights, operations=DARTS_OPERATIONS, nodes=4,
                    multiplier=None):
    """The discrete cell DARTS derives from architecture weights (``edges x operations``,
    softmax already applied; DARTS' ``genotype()``): per node the two incoming edges whose
    strongest non-"none" operation weighs most, each with that operation (ties: the earlier
    edge, the earlier operation). ``multiplier`` nodes are concatenated (default all:
    states ``2 .. nodes + 1``). Returns a checked :class:`~keras_convnets.models.genotype.Genotype`.
    """
    operations = _check_operations(operations)
    nodes = check_positive_int("nodes", nodes)
    multiplier = nodes if multiplier is None else check_positive_int("multiplier", multiplier)
    edges = edge_count(nodes)

    def parse(weights, argument):
        weights = np.asarray(weights, dtype="float64")
        if weights.shape != (edges, len(operations)):
            raise ValueError(f"`{argument}` must have shape (edges, operations) = "
                             f"({edges}, {len(operations)}); got {weights.shape}.")
        usable = [k for k, op in enumerate(operations) if op != "none"]
        cell, start = [], 0
        for i in range(nodes):
            block = weights[start:start + i + 2]
            strength = [max(block[j][k] for k in usable) for j in range(i + 2)]
            kept = sorted(range(i + 2), key=lambda j: -strength[j])[:2]  # stable: ties -> earlier
            node = []
            for j in kept:
                best = max(usable, key=lambda k: (block[j][k], -k))
                node.append((operations[best], j))
            cell.append(tuple(node))
            start += i + 2
        return tuple(cell)

    concat = tuple(range(2 + nodes - multiplier, nodes + 2))
    return Genotype(parse(normal_weights, "normal_weights"), concat,
                    parse(reduce_weights, "reduce_weights"), concat).check(OPERATIONS)


def random_genotype(seed, operations=DARTS_OPERATIONS, nodes=4):
    """A random genotype of the search space DARTS derives from (the baseline of the paper's
    Table 1 "random search" and of ``tools/darts_digits_experiment.py``): per node two distinct
    input states drawn uniformly from those it can read, each with an operation drawn uniformly
    from the non-"none" ``operations``; all nodes concatenated."""
    operations = [op for op in _check_operations(operations) if op != "none"]
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(2):
        cell = []
        for i in range(nodes):
            inputs = sorted(rng.choice(i + 2, size=2, replace=False).tolist())
            cell.append(tuple((operations[int(rng.integers(len(operations)))], int(j))
                              for j in inputs))
        cells.append(tuple(cell))
    concat = tuple(range(2, nodes + 2))
    return Genotype(cells[0], concat, cells[1], concat).check(OPERATIONS)


def reduction_indices(cells):
    """DARTS' reduction cells: at ``cells // 3`` and ``2 * cells // 3``."""
    return sorted({cells // 3, 2 * cells // 3})


def _cross_entropy(labels, logits):
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


@register_serializable
class DartsSearchNetwork(keras.Model):
    """DARTS' super-network (``Network`` of the authors' ``model_search.py``) with the
    first-order bilevel optimisation in its ``train_step``.

    Args:
        image_shape: ``(height, width, channels)`` of the inputs (the network is built on it).
        classes: classifier size.
        filters: the first cells' channels per node (``C``; DARTS' search: 16); doubled at each
            reduction cell. Must be even (factorised reductions).
        cells: number of cells (DARTS' search: 8); reductions at ``cells // 3`` and
            ``2 * cells // 3``.
        nodes, multiplier: nodes per cell and how many (the last) a cell concatenates (4, 4).
        stem_multiplier: the stem's channels over ``filters`` (3).
        operations: the candidate operations (default :data:`DARTS_OPERATIONS`).
        weight_decay, alpha_weight_decay: L2 coefficients added to the weights' and the
            alphas' gradients (3e-4, 1e-3).
        grad_clip: global-norm clip of the weights' gradients (5); ``None``: no clipping.

    Train with :meth:`compile` (the two optimisers; defaults as DARTS) and ``fit`` on a dataset
    of ``((x_train, y_train), (x_val, y_val))`` batches: each step updates the alphas on the
    validation batch, then the weights on the training batch. ``evaluate`` takes ``(x, y)``.
    :meth:`genotype` derives the discrete cells.
    """

    def __init__(self, image_shape=(32, 32, 3), classes=10, filters=16, cells=8, nodes=4,
                 multiplier=4, stem_multiplier=3, operations=DARTS_OPERATIONS,
                 weight_decay=3e-4, alpha_weight_decay=1e-3, grad_clip=5.0, **kwargs):
        kwargs.setdefault("name", "darts_search")
        super().__init__(**kwargs)
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"`image_shape` must be (height, width, channels); got "
                             f"{image_shape!r}.")
        self.classes = check_positive_int("classes", classes)
        self.filters = check_positive_int("filters", filters, minimum=2)
        if filters % 2:
            raise ValueError(f"`filters` must be even (factorised reductions halve it); got "
                             f"{filters}.")
        self.cells = check_positive_int("cells", cells)
        self.nodes = check_positive_int("nodes", nodes)
        self.multiplier = check_positive_int("multiplier", multiplier)
        self.stem_multiplier = check_positive_int("stem_multiplier", stem_multiplier)
        self.operations = _check_operations(operations)
        self.weight_decay = float(weight_decay)
        self.alpha_weight_decay = float(alpha_weight_decay)
        self.grad_clip = None if grad_clip is None else float(grad_clip)

        self.stem_conv = keras.layers.Conv2D(stem_multiplier * filters, 3, padding="same",
                                             use_bias=False, name="stem_conv")
        self.stem_bn = _batch_norm(True, "stem_bn")
        reductions = reduction_indices(cells)
        self.search_cells = []
        width, reduction_prev = filters, False
        for i in range(cells):
            reduction = i in reductions
            if reduction:
                width *= 2
            self.search_cells.append(SearchCell(
                width, reduction, reduction_prev, nodes, multiplier, self.operations,
                name=f"cell{i}"))
            reduction_prev = reduction
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.classifier = keras.layers.Dense(classes, name="classifier")
        shape = (edge_count(nodes), len(self.operations))
        self.alpha_normal = self.add_weight(
            name="alpha_normal", shape=shape, trainable=True,
            initializer=keras.initializers.RandomNormal(stddev=1e-3))
        self.alpha_reduce = self.add_weight(
            name="alpha_reduce", shape=shape, trainable=True,
            initializer=keras.initializers.RandomNormal(stddev=1e-3))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.alpha_loss_tracker = keras.metrics.Mean(name="alpha_loss")
        self.alpha_accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(
            name="alpha_accuracy")
        self.alpha_optimizer = None
        self(tf.zeros((1, *self.image_shape)), training=False)  # builds every variable

    # -- the network ------------------------------------------------------------------------
    @property
    def alpha_variables(self):
        return [self.alpha_normal, self.alpha_reduce]

    @property
    def weight_variables(self):
        """Every trainable variable but the alphas."""
        alphas = {id(v) for v in self.alpha_variables}
        return [v for v in self.trainable_variables if id(v) not in alphas]

    def call(self, inputs, training=None):
        normal = tf.nn.softmax(self.alpha_normal, axis=-1)
        reduce = tf.nn.softmax(self.alpha_reduce, axis=-1)
        s0 = s1 = self.stem_bn(self.stem_conv(inputs), training=training)
        for cell in self.search_cells:
            s0, s1 = s1, cell([s0, s1, reduce if cell.reduction else normal],
                              training=training)
        return self.classifier(self.pool(s1))

    def architecture_weights(self):
        """``{"normal": ..., "reduce": ...}``: the softmax of each kind's alphas (NumPy,
        ``edges x operations``)."""
        return {kind: tf.nn.softmax(tf.convert_to_tensor(alpha), axis=-1).numpy()
                for kind, alpha in (("normal", self.alpha_normal),
                                    ("reduce", self.alpha_reduce))}

    def genotype(self):
        """The derived :class:`~keras_convnets.models.genotype.Genotype` (DARTS' rule; the cell
        concatenates its last ``multiplier`` nodes)."""
        weights = self.architecture_weights()
        return derive_genotype(weights["normal"], weights["reduce"], self.operations,
                               self.nodes, self.multiplier)

    # -- training ---------------------------------------------------------------------------
    def compile(self, optimizer=None, alpha_optimizer=None, **kwargs):
        """``optimizer``: the weights' (default SGD, lr 0.025, momentum 0.9);
        ``alpha_optimizer``: the alphas' (default Adam, lr 3e-4, betas (0.5, 0.999)). Weight
        decay and clipping are the network's own arguments (added to the gradients)."""
        if optimizer is None:
            optimizer = keras.optimizers.SGD(0.025, momentum=0.9)
        if alpha_optimizer is None:
            alpha_optimizer = keras.optimizers.Adam(3e-4, beta_1=0.5, beta_2=0.999)
        super().compile(optimizer=optimizer, **kwargs)
        self.alpha_optimizer = alpha_optimizer
        self.optimizer.build(self.weight_variables)
        self.alpha_optimizer.build(self.alpha_variables)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.alpha_loss_tracker,
                self.alpha_accuracy_tracker]

    def _step(self, x, y, variables, optimizer, weight_decay, clip):
        with tf.GradientTape() as tape:
            logits = self(x, training=True)
            loss = _cross_entropy(y, logits)
        grads = tape.gradient(loss, variables)
        grads = [g + weight_decay * tf.convert_to_tensor(v) for g, v in zip(grads, variables)]
        if clip is not None:
            grads, _ = tf.clip_by_global_norm(grads, clip)
        optimizer.apply_gradients(zip(grads, variables))
        return loss, logits

    def train_step(self, data):
        """One DARTS step (first order): the alphas on the validation batch, then the weights
        on the training batch. ``data`` is ``((x_train, y_train), (x_val, y_val))``."""
        (x_train, y_train), (x_val, y_val) = data
        alpha_loss, alpha_logits = self._step(x_val, y_val, self.alpha_variables,
                                              self.alpha_optimizer, self.alpha_weight_decay,
                                              None)
        loss, logits = self._step(x_train, y_train, self.weight_variables, self.optimizer,
                                  self.weight_decay, self.grad_clip)
        self.alpha_loss_tracker.update_state(alpha_loss)
        self.alpha_accuracy_tracker.update_state(y_val, alpha_logits)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(y_train, logits)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data[0], data[1]
        logits = self(x, training=False)
        self.loss_tracker.update_state(_cross_entropy(y, logits))
        self.accuracy_tracker.update_state(y, logits)
        return {m.name: m.result() for m in self.metrics[:2]}

    def get_config(self):
        return dict(name=self.name, image_shape=list(self.image_shape), classes=self.classes,
                    filters=self.filters, cells=self.cells, nodes=self.nodes,
                    multiplier=self.multiplier, stem_multiplier=self.stem_multiplier,
                    operations=list(self.operations), weight_decay=self.weight_decay,
                    alpha_weight_decay=self.alpha_weight_decay, grad_clip=self.grad_clip)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@dataclasses.dataclass
class SearchResult:
    """What :func:`search` returns (and writes, with ``out_dir``, as ``search.json``)."""

    genotype: Genotype
    architecture_weights: dict   # {"normal"/"reduce": edges x operations softmax, lists}
    history: dict                # per-epoch loss/accuracy of both steps
    settings: dict
    seconds: float
    cpu_seconds: float
    genotypes_per_epoch: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        return dict(genotype=self.genotype.to_dict(), settings=self.settings,
                    architecture_weights=self.architecture_weights, history=self.history,
                    genotypes_per_epoch=self.genotypes_per_epoch,
                    seconds=round(self.seconds, 2), cpu_seconds=round(self.cpu_seconds, 2))


def digits_split(seed=0, image_size=32):
    """The search's data: the embedded digits' 1,437 training images split in two halves by
    ``seed`` (weights / alphas). The 360 test images are not returned."""
    from ..data import load_digits  # noqa: PLC0415

    (x, y), _ = load_digits(image_size=image_size)
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(x) // 2
    return (x[order[:half]], y[order[:half]]), (x[order[half:]], y[order[half:]])


def search(epochs=6, seed=0, filters=8, cells=5, nodes=4, batch_size=64, image_size=16,
           learning_rate=0.025, min_learning_rate=0.001, momentum=0.9, weight_decay=3e-4,
           alpha_learning_rate=3e-4, alpha_weight_decay=1e-3, grad_clip=5.0,
           operations=DARTS_OPERATIONS, data=None, limit=None, output=None, out_dir=None,
           verbose=0):
    """Runs DARTS' first-order search and returns a :class:`SearchResult`.

    ``data``: ``((x_train, y_train), (x_val, y_val))`` arrays (the weights' and the alphas'
    splits); default the embedded digits' training images halved (:func:`digits_split`) -- the
    held-out test images are never used. ``limit`` keeps the first ``limit`` images of each
    split (tests). The weights' learning rate follows a cosine from ``learning_rate`` to
    ``min_learning_rate`` over the steps (DARTS anneals per epoch). Seeded: ``seed`` fixes the
    split, the initialisation and the batch order. ``output`` writes the genotype JSON;
    ``out_dir`` writes ``genotype.json`` (unless ``output`` is given) and ``search.json``
    (weights, history, settings) there.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    check_positive_int("image_size", image_size, minimum=8)
    check_positive_int("cells", cells)
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 2 or filters % 2:
        raise ValueError(f"`filters` must be an even integer >= 2 (factorised reductions halve "
                         f"it); got {filters!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"`seed` must be an integer; got {seed!r}.")
    settings = dict(epochs=epochs, seed=seed, filters=filters, cells=cells, nodes=nodes,
                    batch_size=batch_size, image_size=image_size, learning_rate=learning_rate,
                    min_learning_rate=min_learning_rate, momentum=momentum,
                    weight_decay=weight_decay, alpha_learning_rate=alpha_learning_rate,
                    alpha_betas=[0.5, 0.999], alpha_weight_decay=alpha_weight_decay,
                    grad_clip=grad_clip, operations=list(operations), limit=limit,
                    keras="tf_keras" if USE_LEGACY_KERAS else f"keras {keras.__version__}")
    (x_train, y_train), (x_val, y_val) = data if data is not None else digits_split(
        seed, image_size)
    if limit is not None:
        limit = check_positive_int("limit", limit)
        x_train, y_train, x_val, y_val = (a[:limit] for a in (x_train, y_train, x_val, y_val))
    settings.update(train_images=len(x_train), validation_images=len(x_val))
    batch = min(batch_size, len(x_train), len(x_val))
    steps = min(len(x_train), len(x_val)) // batch
    start, cpu_start = time.time(), time.process_time()

    keras.utils.set_random_seed(seed)
    network = DartsSearchNetwork(tuple(x_train.shape[1:]), int(max(y_train.max(),
                                                                   y_val.max())) + 1,
                                 filters, cells, nodes, nodes, operations=operations,
                                 weight_decay=weight_decay,
                                 alpha_weight_decay=alpha_weight_decay, grad_clip=grad_clip)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=epochs * steps, alpha=min_learning_rate / learning_rate)
    network.compile(keras.optimizers.SGD(schedule, momentum=momentum),
                    keras.optimizers.Adam(alpha_learning_rate, beta_1=0.5, beta_2=0.999))

    def split(x, y, offset):
        return (tf.data.Dataset.from_tensor_slices((x, y.astype("int64")))
                .shuffle(len(x), seed=seed + offset, reshuffle_each_iteration=True)
                .batch(batch, drop_remainder=True).repeat())

    dataset = tf.data.Dataset.zip((split(x_train, y_train, 0), split(x_val, y_val, 1)))
    genotypes = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            genotypes.append(network.genotype().to_dict())

    fit = network.fit(dataset.prefetch(2), epochs=epochs, steps_per_epoch=steps,
                      verbose=verbose, callbacks=[Record()], shuffle=False)
    history = {k: [round(float(v), 5) for v in values] for k, values in fit.history.items()}
    weights = network.architecture_weights()
    result = SearchResult(
        genotype=network.genotype(),
        architecture_weights={"operations": list(network.operations),
                              **{k: np.round(v, 5).tolist() for k, v in weights.items()}},
        history=history, settings=settings, seconds=time.time() - start,
        cpu_seconds=time.process_time() - cpu_start, genotypes_per_epoch=genotypes)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        output = output or os.path.join(out_dir, "genotype.json")
        with open(os.path.join(out_dir, "search.json"), "w") as f:
            json.dump(result.to_dict(), f, indent=1)
    if output is not None:
        directory = os.path.dirname(os.path.abspath(output))
        os.makedirs(directory, exist_ok=True)
        result.genotype.to_json(output)
    result.output = output
    return result
