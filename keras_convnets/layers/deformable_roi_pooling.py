"""Deformable RoI pooling: RoI average pooling whose bins move by learned, RoI-relative offsets.

Dai, Qi, Xiong, Li, Zhang, Hu, Wei. "Deformable Convolutional Networks", ICCV 2017,
arXiv:1703.06211, Sec. 2.2, Eq. (5)-(6) and Fig. 3. A RoI of size ``w x h`` is divided into
``k x k`` bins; RoI pooling averages every bin,

    y(i, j) = sum_{p in bin(i, j)} x(p0 + p) / n_ij                           (Eq. 5)

and deformable RoI pooling shifts bin ``(i, j)`` by an offset ``dp_ij``:

    y(i, j) = sum_{p in bin(i, j)} x(p0 + p + dp_ij) / n_ij                   (Eq. 6)

The offsets come from the plain pooled map (Eq. 5): a fc layer predicts normalised offsets
dp^_ij, scaled element-wise by the RoI's size, dp_ij = gamma * dp^_ij o (w, h), with gamma = 0.1
in the paper, so that the offsets do not depend on the RoI's scale. The fc layer is initialised
to zero (Sec. 2.3), so the untrained layer is plain RoI average pooling; values at fractional
positions are bilinear (Eq. 3-4, zero outside the map).

The sum over the pixels of a bin is taken, as in the authors' operator (``sample_per_part``)
and RoIAlign, over a fixed ``sampling_ratio x sampling_ratio`` grid of points per bin, at
``start + (a + 1/2) * size / sampling_ratio`` -- which keeps shapes static (vectorised over
RoIs, bins and samples; TFLite builtin ops) and the result differentiable in the offsets.

Conventions: boxes are ``(y1, x1, y2, x2)`` in input-image pixels (pixel ``(i, j)`` covers
``[i, i+1) x [j, j+1)``), mapped to the feature map by ``spatial_scale`` (1/16 for a stride-16
map); the fc's normalised offsets are ``(dy, dx)`` per bin, scaled by ``(h, w)``; the fc reads
the pooled map flattened in ``(bin row, bin column, channel)`` order.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_positive_int
from .bilinear import bilinear_sample
from .group_conv import _pair


def _positive_number(argument, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{argument}` must be a number {bound}; got {value!r}.")
    return float(value)


@register_serializable
class DeformableRoIPooling(keras.layers.Layer):
    """Deformable RoI average pooling (Dai et al. 2017, Sec. 2.2) with its offset fc layer.

    Called on ``[features, boxes]`` with ``boxes`` (N, R, 4) -- R boxes per image, output
    (N, R, ph, pw, C) -- or on ``[features, boxes, box_indices]`` with ``boxes`` (R, 4) and
    ``box_indices`` (R,) int naming each box's image, output (R, ph, pw, C).

    Args:
        pooled_size: k (int) or (ph, pw): the bins per RoI (7 in the paper's detectors).
        spatial_scale: feature-map pixels per input pixel.
        sampling_ratio: sample points per bin along each axis.
        gamma: the offset scale of Eq. (6) (0.1 in the paper).
        offset_initializer: of the offset fc's kernel and bias (``"zeros"``: the paper).

    Weights: ``offset_kernel`` (ph * pw * C, 2 * ph * pw) and ``offset_bias`` (2 * ph * pw).
    """

    def __init__(self, pooled_size=7, spatial_scale=1.0, sampling_ratio=2, gamma=0.1,
                 offset_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.pooled_size = _pair("pooled_size", pooled_size)
        self.spatial_scale = _positive_number("spatial_scale", spatial_scale)
        self.sampling_ratio = check_positive_int("sampling_ratio", sampling_ratio)
        self.gamma = _positive_number("gamma", gamma, allow_zero=True)
        self.offset_initializer = keras.initializers.get(offset_initializer)

    @staticmethod
    def _split(inputs, what):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                f"DeformableRoIPooling takes [features, boxes] (boxes (N, R, 4)) or [features, "
                f"boxes, box_indices] (boxes (R, 4), box_indices (R,)); got {what}.")
        return inputs

    def build(self, input_shape):
        shapes = self._split(input_shape, f"input shapes {input_shape}")
        features, boxes = tuple(shapes[0]), tuple(shapes[1])
        if len(features) != 4 or features[-1] is None:
            raise ValueError(f"{self.name}: features must be (N, H, W, C) with known C; got "
                             f"{features}.")
        expected_rank = 2 if len(shapes) == 3 else 3
        if len(boxes) != expected_rank or boxes[-1] != 4:
            form = "(R, 4) with box_indices" if len(shapes) == 3 else "(N, R, 4)"
            raise ValueError(f"{self.name}: boxes must be {form}; got shape {boxes}.")
        ph, pw = self.pooled_size
        bins = ph * pw
        self.offset_kernel = self.add_weight(name="offset_kernel",
                                             shape=(bins * int(features[-1]), 2 * bins),
                                             initializer=self.offset_initializer)
        self.offset_bias = self.add_weight(name="offset_bias", shape=(2 * bins,),
                                           initializer=self.offset_initializer)
        super().build(input_shape)

    def _sample_fractions(self, bins, dtype):
        s = self.sampling_ratio
        return tf.constant([(i + (a + 0.5) / s) / bins for i in range(bins) for a in range(s)],
                           dtype)

    def _average(self, features, y, x, box_indices):
        """Mean of the bilinear samples at ``y`` (M, ph, s, 1, 1) + ``x`` (M, 1, 1, pw, s)
        (broadcast) over each bin's s x s points: (M, ph, pw, C)."""
        y, x = y + tf.zeros_like(x), x + tf.zeros_like(y)
        return tf.reduce_mean(bilinear_sample(features, y, x, box_indices), axis=[2, 4])

    def _flat_boxes(self, inputs):
        """``(features, boxes (M, 4), box_indices (M,))`` for either calling form."""
        inputs = self._split(inputs, f"{type(inputs).__name__}")
        features, boxes = inputs[0], tf.cast(inputs[1], inputs[0].dtype)
        if len(inputs) == 3:
            return features, boxes, tf.cast(inputs[2], "int32")
        shape = tf.shape(boxes)
        box_indices = tf.reshape(tf.tile(tf.range(shape[0])[:, None], [1, shape[1]]), [-1])
        return features, tf.reshape(boxes, [-1, 4]), box_indices

    def _plain_pooling(self, features, boxes, box_indices):
        """The sample grid ``(y, x)``, the RoI sizes and the plain pooled map (Eq. 5)."""
        dtype = features.dtype
        ph, pw = self.pooled_size
        s = self.sampling_ratio
        y1, x1, y2, x2 = tf.unstack(boxes * self.spatial_scale, axis=-1)
        height, width = y2 - y1, x2 - x1
        # Sampler coordinates put pixel centres at integers: continuous c -> c - 1/2.
        y = (y1 - 0.5)[:, None] + height[:, None] * self._sample_fractions(ph, dtype)[None]
        x = (x1 - 0.5)[:, None] + width[:, None] * self._sample_fractions(pw, dtype)[None]
        y = tf.reshape(y, [-1, ph, s, 1, 1])
        x = tf.reshape(x, [-1, 1, 1, pw, s])
        return y, x, height, width, self._average(features, y, x, box_indices)

    def _normalised_offsets(self, pooled):
        ph, pw = self.pooled_size
        flat = tf.reshape(pooled, [-1, ph * pw * int(pooled.shape[-1])])
        out = tf.matmul(flat, tf.cast(self.offset_kernel, pooled.dtype))
        return tf.reshape(out + tf.cast(self.offset_bias, pooled.dtype), [-1, ph, pw, 2])

    def call(self, inputs):
        features, boxes, box_indices = self._flat_boxes(inputs)
        y, x, height, width, pooled = self._plain_pooling(features, boxes, box_indices)
        normalised = self._normalised_offsets(pooled)
        dy = self.gamma * normalised[..., 0] * height[:, None, None]          # Eq. (6)
        dx = self.gamma * normalised[..., 1] * width[:, None, None]
        out = self._average(features, y + dy[:, :, None, :, None], x + dx[:, :, None, :, None],
                            box_indices)
        if len(inputs) == 2:
            ph, pw = self.pooled_size
            out = tf.reshape(out, tf.concat([tf.shape(inputs[1])[:2],
                                             [ph, pw, int(features.shape[-1])]], 0))
        return out

    def normalised_offsets(self, inputs):
        """The fc's normalised offsets dp^ (M, ph, pw, 2) -- (dy, dx) per bin, before gamma and
        the RoI size -- for the M boxes of ``inputs`` (either calling form), for inspection."""
        features, boxes, box_indices = self._flat_boxes(inputs)
        return self._normalised_offsets(self._plain_pooling(features, boxes, box_indices)[-1])

    def compute_output_shape(self, input_shape):
        features, boxes = tuple(input_shape[0]), tuple(input_shape[1])
        if len(input_shape) == 2:
            return (boxes[0], boxes[1], *self.pooled_size, features[-1])
        return (boxes[0], *self.pooled_size, features[-1])

    def count_flops(self, input_shape, output_shape):
        """2 x multiply-adds of the offset fc, per RoI (times R where the boxes are given per
        image, (N, R, 4)); bilinear sampling and averaging are not counted, like pooling."""
        ph, pw = self.pooled_size
        per_roi = 2 * ph * pw * int(input_shape[-1]) * 2 * ph * pw
        if len(output_shape) == 5 and output_shape[1] is not None:
            return per_roi * int(output_shape[1])
        return per_roi

    def get_config(self):
        config = super().get_config()
        config.update(pooled_size=self.pooled_size, spatial_scale=self.spatial_scale,
                      sampling_ratio=self.sampling_ratio, gamma=self.gamma,
                      offset_initializer=keras.initializers.serialize(self.offset_initializer))
        return config


__all__ = ["DeformableRoIPooling"]
