"""Bilinear sampling at fractional positions, shared by the sampling-based spatial operators.

The sampler of deformable convolution and deformable RoI pooling (Dai et al., "Deformable
Convolutional Networks", 2017, arXiv:1703.06211, Eq. (3)-(4)), of the spatial transformer
(Jaderberg et al., "Spatial Transformer Networks", 2015, arXiv:1506.02025, Eq. (5)) and of
irregular convolution (Ma et al. 2017, arXiv:1706.07966):

    V(y, x) = sum_{q in the 4 neighbours} max(0, 1 - |y - q_y|) * max(0, 1 - |x - q_x|) * U(q)

Coordinates are in pixels of the input, pixel ``(i, j)``'s centre at ``y = i, x = j``. A
neighbour outside the image contributes zero (the image is zero-padded), as in the authors'
deformable-convolution kernels. The gradient with respect to the position is the derivative of
the interpolation weights (piecewise linear; at an integer position the one-sided one towards
``floor + 1``), so offsets learn by back-propagation.

Only TFLite builtin ops are used: FLOOR, CAST, comparisons, GATHER on the flattened map.
"""

from ..backend import tf


def _corners(y, x, height, width):
    """``(row, col, weight)`` of the 4 neighbours of each position; out-of-image ones weigh 0
    (their row / col clipped into the image so that the gather stays in range)."""
    y0, x0 = tf.floor(y), tf.floor(x)
    fy, fx = y - y0, x - x0
    y0, x0 = tf.cast(y0, "int32"), tf.cast(x0, "int32")
    corners = []
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        row = y0 + dy
        row_in = tf.logical_and(row >= 0, row < height)
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            col = x0 + dx
            inside = tf.logical_and(row_in, tf.logical_and(col >= 0, col < width))
            weight = wy * wx * tf.cast(inside, y.dtype)
            corners.append((tf.clip_by_value(row, 0, height - 1),
                            tf.clip_by_value(col, 0, width - 1), weight))
    return corners


def bilinear_sample(images, y, x, batch_index=None):
    """Samples ``images`` (N, H, W, C) bilinearly at pixel coordinates ``y``, ``x``.

    Args:
        images: the feature map, (N, H, W, C).
        y, x: float tensors of one shape ``S``. Without ``batch_index`` ``S`` starts with N
            and position ``[n, ...]`` samples image ``n``; with it, ``S`` starts with M and
            position ``[m, ...]`` samples image ``batch_index[m]``.
        batch_index: optional int tensor (M,).

    Returns:
        ``S + (C,)``: the sampled values, zero where all four neighbours lie outside.
    """
    shape = tf.shape(images)
    height, width, channels = shape[1], shape[2], shape[3]
    flat = tf.reshape(images, [-1, channels])
    y = tf.cast(y, images.dtype)
    x = tf.cast(x, images.dtype)
    rank = len(y.shape)
    if batch_index is None:
        batch_index = tf.range(shape[0])
    base = tf.reshape(tf.cast(batch_index, "int32") * (height * width), [-1] + [1] * (rank - 1))
    out = None
    for row, col, weight in _corners(y, x, height, width):
        value = tf.gather(flat, base + row * width + col) * weight[..., None]
        out = value if out is None else out + value
    return out


def _linear_taps(positions, length):
    """The two taps of linear interpolation at ``positions`` (any shape) along an axis of
    ``length``: ``(indices (2, ...), weights (2, ...))``, indices clipped into the axis and
    weights zero for taps outside it."""
    start = tf.floor(positions)
    frac = positions - start
    start = tf.cast(start, "int32")
    index = tf.stack([start, start + 1])
    inside = tf.cast(tf.logical_and(index >= 0, index < length), positions.dtype)
    return tf.clip_by_value(index, 0, length - 1), tf.stack([1.0 - frac, frac]) * inside


def lattice_sample(images, rows, cols):
    """Bilinear samples of ``images`` (N, H, W, C) on ``K`` rectangular lattices: lattice ``k``
    has rows ``rows[k]`` (K, Ho) and columns ``cols[k]`` (K, Wo), fractional, shared by the
    batch (irregular convolution's kernel elements). Zero outside. Returns (N, Ho, Wo, K, C).

    Bilinear sampling on a lattice separates: linear interpolation along the rows (one gather
    of the 2 taps of every row of every lattice), then along the columns (one gather on the
    ``K * W`` columns of the K row-interpolated maps side by side).
    """
    shape = tf.shape(images)
    height = images.shape[1] if images.shape[1] is not None else shape[1]
    width = images.shape[2] if images.shape[2] is not None else shape[2]
    channels = int(images.shape[-1])
    k = int(rows.shape[0])
    out_h = rows.shape[1] if rows.shape[1] is not None else tf.shape(rows)[1]
    out_w = cols.shape[1] if cols.shape[1] is not None else tf.shape(cols)[1]
    rows, cols = tf.cast(rows, images.dtype), tf.cast(cols, images.dtype)
    index, weight = _linear_taps(rows, height)                           # (2, K, Ho)
    taken = tf.gather(images, tf.reshape(index, [-1]), axis=1)          # (N, 2*K*Ho, W, C)
    taken = tf.reshape(taken, [-1, 2, k, out_h, width, channels])
    by_rows = tf.reduce_sum(taken * weight[None, :, :, :, None, None], axis=1)
    side_by_side = tf.reshape(tf.transpose(by_rows, [0, 2, 1, 3, 4]),   # (N, Ho, K * W, C)
                              [-1, out_h, k * width, channels])
    index, weight = _linear_taps(cols, width)                           # (2, K, Wo)
    index = index + tf.range(k)[None, :, None] * width
    taken = tf.gather(side_by_side, tf.reshape(index, [-1]), axis=2)    # (N, Ho, 2*K*Wo, C)
    taken = tf.reshape(taken, [-1, out_h, 2, k, out_w, channels])
    sampled = tf.reduce_sum(taken * weight[None, None, :, :, :, None], axis=2)
    return tf.transpose(sampled, [0, 1, 3, 2, 4])                        # (N, Ho, Wo, K, C)


def conv_geometry(length, kernel, stride, dilation, padding):
    """``(output length, padding before)`` of a convolution along one axis, TensorFlow's
    ``"valid"`` / ``"same"`` rules; ``length`` may be an int or a scalar tensor."""
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        out = (length - effective) // stride + 1
        return out, 0
    out = (length + stride - 1) // stride
    if isinstance(length, int):
        return out, max((out - 1) * stride + effective - length, 0) // 2
    return out, tf.maximum((out - 1) * stride + effective - length, 0) // 2


def output_grid(inputs, kernel_size, strides, dilation_rate, padding):
    """``(out_h, out_w, base_y, base_x)`` of a convolution over ``inputs`` (N, H, W, C): its
    output size and, per output row / column, the input row / column of its first kernel tap
    (the padding subtracted), in ``inputs``' dtype. Sizes may be unknown until run time."""
    shape = tf.shape(inputs)
    in_h = inputs.shape[1] if inputs.shape[1] is not None else shape[1]
    in_w = inputs.shape[2] if inputs.shape[2] is not None else shape[2]
    out_h, pad_top = conv_geometry(in_h, kernel_size[0], strides[0], dilation_rate[0], padding)
    out_w, pad_left = conv_geometry(in_w, kernel_size[1], strides[1], dilation_rate[1], padding)
    base_y = tf.cast(tf.range(out_h) * strides[0] - pad_top, inputs.dtype)
    base_x = tf.cast(tf.range(out_w) * strides[1] - pad_left, inputs.dtype)
    return out_h, out_w, base_y, base_x


def conv_output_shape(input_shape, kernel_size, strides, dilation_rate, padding, filters):
    """The static output shape of such a convolution (None where the input's size is)."""
    sizes = [None if input_shape[1 + axis] is None else conv_geometry(
        int(input_shape[1 + axis]), kernel_size[axis], strides[axis], dilation_rate[axis],
        padding)[0] for axis in (0, 1)]
    return (input_shape[0], *sizes, filters)


__all__ = ["bilinear_sample", "lattice_sample", "conv_geometry", "output_grid",
           "conv_output_shape"]
