"""Learned group convolution (CondenseNet) and the classifier's learned feature selection.

Huang, Liu, van der Maaten, Weinberger. "CondenseNet: An Efficient DenseNet using Learned
Group Convolutions", 2017, arXiv:1711.09224, Sec. 3.1 and Fig. 1 (middle). A 1x1
convolution's output channels are split into G groups; during training each group learns
which 1/C of the input channels it keeps (C, the condensation factor). Training
runs C - 1 *condensing stages* over its first half: at the end of each one every group drops
the 1/C of its input channels that matter least to it -- the "importance" of input channel j
to group g is the L1 norm of the weights between j and the group's filters,
``sum_{o in g} |W[j, o]|`` -- so that after stage k each group keeps a fraction ``1 - k/C`` of
the inputs, ``1/C`` after the last one. The second half only optimises. At test time the kept
inputs are gathered by an index layer and the 1x1 becomes a standard group convolution
(:class:`~keras_convnets.layers.channel_gather.ChannelGather`, ``GroupConv2D``, a channel
shuffle; ``keras_convnets.models.condensenet.condense_model``).

Dropping is a fixed 0/1 mask on the kernel (a non-trainable weight): dropped weights get no
gradient and no longer contribute, and the mask travels with the weights (``.keras`` files,
``get_weights``). Output channel ``o`` belongs to group ``o % G`` (the authors' layout, which
the channel shuffle after the deployed group convolution restores).

The paper's group-lasso regulariser pushes a group's weights on an input channel to zero
together: ``sum_g sum_j sqrt(sum_{o in g} W[j, o]^2)``, weighted by
``group_lasso`` and added to the training loss until the last condensing stage.
"""

import numpy as np

from ..backend import keras, register_serializable, tf
from ..utils import check_positive_int


def _check_nonnegative(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"`{argument}` must be a number >= 0; got {value!r}.")
    return float(value)


@register_serializable
class LearnedGroupConv(keras.layers.Layer):
    """A 1x1 convolution (no bias) whose kernel is multiplied by a non-trainable 0/1 ``mask``
    that :meth:`condense` fills with zeros, per group, on the paper's rule.

    Args:
        filters: output channels, a multiple of ``groups``.
        groups: G, the groups of output channels (channel ``o`` is in group ``o % G``).
        condense_factor: C (default: ``groups``): after the last of the C - 1 condensing
            stages each group keeps ``1/C`` of the input channels, which must be a multiple
            of C.
        group_lasso: weight of the group-lasso penalty added to the training loss while
            condensing (0: none).

    Weights: ``kernel`` (1, 1, in, filters), trainable, and ``mask`` of the same shape.
    """

    def __init__(self, filters, groups, condense_factor=None, group_lasso=0.0,
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.groups = check_positive_int("groups", groups)
        self.condense_factor = check_positive_int(
            "condense_factor", groups if condense_factor is None else condense_factor)
        if self.filters % self.groups:
            raise ValueError(
                f"`groups`={groups} does not divide `filters`={filters}: every group needs "
                f"the same number of output channels; it must be a divisor of {filters}.")
        self.group_lasso = _check_nonnegative("group_lasso", group_lasso)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        channels = int(channels)
        if channels % self.condense_factor:
            raise ValueError(
                f"`condense_factor`={self.condense_factor} does not divide the {channels} input "
                f"channels of {self.name}: each group keeps 1/C of them; C must be a divisor "
                f"of {channels}.")
        shape = (1, 1, channels, self.filters)
        self.kernel = self.add_weight(name="kernel", shape=shape,
                                      initializer=self.kernel_initializer)
        self.mask = self.add_weight(name="mask", shape=shape, initializer="ones",
                                    trainable=False)
        self.built = True

    # -- the forward pass --------------------------------------------------------------------
    def masked_kernel(self, dtype=None):
        kernel = tf.convert_to_tensor(self.kernel) * tf.convert_to_tensor(self.mask)
        return kernel if dtype is None else tf.cast(kernel, dtype)

    def call(self, inputs, training=None):
        if training and self.group_lasso:
            self.add_loss(self.group_lasso * self.group_lasso_loss())
        return tf.nn.conv2d(inputs, self.masked_kernel(inputs.dtype), 1, "VALID")

    def group_lasso_loss(self):
        """``sum_g sum_j sqrt(sum_{o in g} (W * mask)[j, o]^2)`` (the authors clamp the sum at
        1e-6 before the root), zero once the last condensing stage is reached."""
        channels = int(self.kernel.shape[2])
        kernel = tf.reshape(self.masked_kernel(), [channels, -1, self.groups])  # o = k*G + g
        per_group = tf.sqrt(tf.maximum(tf.reduce_sum(tf.square(kernel), axis=1), 1e-6))
        kept = tf.reduce_sum(tf.convert_to_tensor(self.mask))
        final = channels * self.filters / self.condense_factor
        condensing = tf.cast(kept > final + 0.5, per_group.dtype)
        return condensing * tf.reduce_sum(per_group)

    # -- condensation ------------------------------------------------------------------------
    @property
    def final_stage(self):
        """C - 1: the stage after which each group keeps 1/C of its inputs."""
        return self.condense_factor - 1

    def _group_mask(self):
        """(G, in) 0/1: whether group g still uses input channel j."""
        mask = np.asarray(self.mask.numpy() if hasattr(self.mask, "numpy") else self.mask)
        channels = mask.shape[2]
        return mask.reshape(channels, -1, self.groups)[:, 0, :].T

    def kept_channels(self):
        """For each group, the sorted input channels it keeps."""
        return [np.flatnonzero(row) for row in self._group_mask()]

    @property
    def stage(self):
        """The condensing stage the mask is at: 0 (nothing dropped) to C - 1."""
        channels = int(self.kernel.shape[2])
        dropped = channels - int(self._group_mask().sum(axis=1).max())
        return dropped // (channels // self.condense_factor)

    def importance(self):
        """(G, in): the L1 norm of each group's (masked) weights on each input channel."""
        kernel = np.abs(np.asarray(self.masked_kernel()))[0, 0]
        channels = kernel.shape[0]
        return kernel.reshape(channels, -1, self.groups).sum(axis=1).T

    def condense(self, stage):
        """Advances the mask to condensing ``stage`` (1 to C - 1): each group drops, of the
        input channels it still uses, the ``(stage - current) * in / C`` of least importance
        (L1 norm of its weights on them; ties go to the lower channel index). Returns the
        number of input channels each group dropped now."""
        check_positive_int("stage", stage, minimum=0)
        if stage > self.final_stage:
            raise ValueError(
                f"`stage` must be at most C - 1 = {self.final_stage} for {self.name} "
                f"(condense_factor={self.condense_factor}); got {stage}.")
        current = self.stage
        if stage < current:
            raise ValueError(f"{self.name} is at condensing stage {current}; dropped channels "
                             f"cannot come back (got `stage`={stage}).")
        channels = int(self.kernel.shape[2])
        drop = (stage - current) * (channels // self.condense_factor)
        if not drop:
            return 0
        importance, group_mask = self.importance(), self._group_mask()
        mask = np.asarray(self.mask.numpy() if hasattr(self.mask, "numpy") else self.mask).copy()
        for group in range(self.groups):
            alive = np.flatnonzero(group_mask[group])
            order = alive[np.argsort(importance[group, alive], kind="stable")]
            mask[0, 0, order[:drop], group::self.groups] = 0
        self.mask.assign(mask)
        return drop

    def condensed_weights(self):
        """``(index, kernel)`` of the deployed form: the input channels the groups keep, group
        after group (each sorted), and the (1, 1, in / C, filters) group-convolution kernel
        whose contiguous output block g holds group g's filters in order (a channel shuffle
        with ``groups`` groups restores the output order). Needs the last stage."""
        if self.stage != self.final_stage:
            raise ValueError(
                f"{self.name} is at condensing stage {self.stage} of {self.final_stage}: "
                f"condense it fully before converting.")
        kept = self.kept_channels()
        kernel = np.asarray(self.kernel.numpy() if hasattr(self.kernel, "numpy")
                            else self.kernel)[0, 0]
        per_group = self.filters // self.groups
        deployed = np.zeros((1, 1, len(kept[0]), self.filters), kernel.dtype)
        for group, channels in enumerate(kept):
            block = kernel[channels][:, group::self.groups]  # outputs g, g + G, ...
            deployed[0, 0, :, group * per_group:(group + 1) * per_group] = block
        return np.concatenate(kept).astype("int32"), deployed

    # -- the rest of the layer API -----------------------------------------------------------
    @property
    def prunable_weights(self):
        """The kernel: what magnitude pruning masks (:mod:`keras_convnets.optimize.pruning`),
        on top of the condensation mask."""
        return [self.kernel]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.filters,)

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the dense 1x1 convolution the training network computes (the
        deployed group convolution costs 1/C of it)."""
        spatial = int(np.prod([int(d) for d in output_shape[1:-1]]))
        return 2 * int(input_shape[-1]) * self.filters * spatial

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, groups=self.groups,
                      condense_factor=self.condense_factor, group_lasso=self.group_lasso,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


@register_serializable
class ChannelMask(keras.layers.Layer):
    """Multiplies the channels (last axis) by a non-trainable 0/1 ``mask``; :meth:`select`
    keeps the ``int(channels * keep)`` channels of highest score.

    CondenseNet's classifier input in the training network: the deployed classifier reads
    only ``keep`` (0.5) of the pooled features (the authors' ``CondensingLinear``), those on
    which its weights have the largest L1 norm; masking them during training makes the
    conversion to a gather + smaller classifier exact.
    """

    def __init__(self, keep=0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
            raise ValueError(f"`keep` must be a number in (0, 1]; got {keep!r}.")
        self.keep = float(keep)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known.")
        self.kept_count = int(int(channels) * self.keep)
        if self.kept_count < 1:
            raise ValueError(f"`keep`={self.keep} keeps none of the {channels} channels of "
                             f"{self.name}.")
        self.mask = self.add_weight(name="mask", shape=(int(channels),), initializer="ones",
                                    trainable=False)
        self.built = True

    def call(self, inputs):
        return inputs * tf.cast(tf.convert_to_tensor(self.mask), inputs.dtype)

    def kept_channels(self):
        """The sorted channels the mask passes."""
        return np.flatnonzero(np.asarray(self.mask.numpy() if hasattr(self.mask, "numpy")
                                         else self.mask))

    @property
    def selected(self):
        """Whether :meth:`select` has run (the mask keeps ``int(channels * keep)``)."""
        return len(self.kept_channels()) == self.kept_count

    def select(self, scores):
        """Keeps the ``int(channels * keep)`` channels of highest ``scores`` (ties go to the
        lower index); every other channel is masked to zero."""
        scores = np.asarray(scores, dtype="float64").reshape(-1)
        if scores.shape[0] != self.mask.shape[0]:
            raise ValueError(f"{self.name}: {scores.shape[0]} scores for "
                             f"{self.mask.shape[0]} channels.")
        order = np.argsort(-scores, kind="stable")[:self.kept_count]
        mask = np.zeros(scores.shape[0], dtype="float32")
        mask[order] = 1
        self.mask.assign(mask)
        return np.sort(order)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(keep=self.keep)
        return config
