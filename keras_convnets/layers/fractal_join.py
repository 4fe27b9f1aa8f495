"""FractalNet's join and its drop-path.

Larsson, Maire, Shakhnarovich. "FractalNet: Ultra-Deep Neural Networks without Residuals",
2016, arXiv:1605.07648, Section 3 (join = element-wise mean) and Section 3.1 (drop-path).

A join averages the columns that meet at it. While training, drop-path removes some of them:

- *local*: each input of each join is dropped independently with probability ``p``, and at
  least one is kept (when all are dropped, one drawn uniformly survives); the mean runs over
  the kept inputs, so the output keeps the scale of a single column;
- *global*: a single column is selected for the whole network: every join passes that column's
  input alone, so the network computes that column and nothing else.

Global selection must agree between all joins of a network. :class:`FractalColumnSampler`
draws it once per forward pass (per mini-batch, as the paper mixes local and global
mini-batches, or per sample) and every :class:`FractalJoin` takes the draw as an extra input:
one random choice in the graph, seen by all joins; no shared state, no step counter.
"""

from ..backend import keras, register_serializable, tf
from ..utils import check_bool, check_positive_int, check_rate


def _check_ratio(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"`{argument}` must be a number in [0, 1]; got {value!r}.")
    return float(value)


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"`seed` must be None or an integer; got {seed!r}.")
    return seed


def _rank(value):
    # a tensor, a KerasTensor or a shape (build, compute_output_shape)
    shape = value.shape if hasattr(value, "shape") else value
    return len(shape)


def _second_seed(seed):
    # a distinct op seed for a layer's second random op (same-seed ops draw the same stream)
    return None if seed is None else seed + 7919


@register_serializable
class FractalColumnSampler(keras.layers.Layer):
    """Draws FractalNet's global drop-path selection, once per forward pass.

    Takes any tensor with a batch dimension (the network's input) and returns an ``int32``
    vector with one entry per sample: ``0`` where the sample uses local drop-path (or no
    drop-path at all), ``c`` in ``1..num_columns`` where global drop-path keeps column ``c``
    alone (column ``c`` has ``2**(c - 1)`` convolutions per block: 1 is the shallowest). Feed
    it to every :class:`FractalJoin` of the network.

    Args:
        num_columns: the network's column count C.
        global_ratio: the probability that a draw is global (the paper mixes local and global
            drop-path 50/50: 0.5). 1 makes every training pass a single column.
        per_sample: False (the paper): one draw for the whole mini-batch -- global or local,
            and which column; True: an independent draw for every sample.
        seed: op seed for reproducible draws (with the global seed).

    At inference the selection is all zeros (the joins ignore it then).
    """

    def __init__(self, num_columns=1, global_ratio=0.5, per_sample=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_columns = check_positive_int("num_columns", num_columns)
        self.global_ratio = _check_ratio("global_ratio", global_ratio)
        self.per_sample = check_bool("per_sample", per_sample)
        self.seed = _check_seed(seed)

    def call(self, inputs, training=None):
        batch = tf.shape(inputs)[:1]
        if not training or self.global_ratio == 0.0:
            return tf.zeros(batch, tf.int32)
        shape = batch if self.per_sample else [1]
        draw = tf.random.uniform(shape, seed=self.seed)
        column = tf.random.uniform(shape, minval=1, maxval=self.num_columns + 1,
                                   dtype=tf.int32, seed=_second_seed(self.seed))
        selection = tf.where(draw < self.global_ratio, column, tf.zeros_like(column))
        return tf.broadcast_to(selection, batch)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update(num_columns=self.num_columns, global_ratio=self.global_ratio,
                      per_sample=self.per_sample, seed=self.seed)
        return config


@register_serializable
class FractalJoin(keras.layers.Layer):
    """The element-wise mean of the columns meeting at a FractalNet join, with drop-path.

    Call it on the list of the joined columns' tensors (all of one shape), in the order of
    ``columns``, optionally followed by the selection of a :class:`FractalColumnSampler`.

    Args:
        columns: the column each input comes from (1 = the shallowest; the column numbers
            global drop-path selects), e.g. ``(1, 2, 3)`` for the last join of a 3-column
            block. None: the inputs are all columns (1..n), with no selection input.
        drop_rate: local drop-path's probability of dropping each input, in [0, 1).
        seed: op seed for reproducible draws (with the global seed).

    At inference (and in training without drop-path) the output is the plain mean of the
    inputs. In training each sample follows the selection: ``0`` -- local drop-path at
    ``drop_rate`` (at least one input kept; the mean of the kept ones); ``c > 0`` -- the input
    from column ``c`` alone. A join that column ``c`` does not reach (a join of deeper columns
    only, whose output the selected path never uses) returns the plain mean, so that the
    unused columns' batch statistics stay those of real activations.
    """

    def __init__(self, columns=None, drop_rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if columns is not None:
            columns = tuple(columns)
            if not columns or len(set(columns)) != len(columns) or any(
                    isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in columns):
                raise ValueError(f"`columns` must be distinct positive integers (the column of "
                                 f"each input, 1 = the shallowest); got {columns!r}.")
        self.columns = columns
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.seed = _check_seed(seed)

    def _split(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self.name}: FractalJoin takes a list of the joined columns' "
                             f"tensors; got one tensor.")
        inputs = list(inputs)
        n = len(self.columns) if self.columns is not None else None
        if n is None:  # no column numbers: every input is a path
            return inputs, None
        if len(inputs) == n:
            return inputs, None
        rank = _rank(inputs[-1])
        if len(inputs) == n + 1 and rank == 1:
            return inputs[:n], inputs[n]
        raise ValueError(
            f"{self.name}: `columns`={self.columns} names {n} inputs; got {len(inputs)} (the "
            f"last of rank {rank}): the {n} columns' tensors, optionally followed by the "
            f"(batch,) selection of a FractalColumnSampler.")

    def build(self, input_shape):
        paths, _ = self._split(input_shape)
        shapes = {tuple(shape) for shape in paths}
        if len(shapes) > 1:
            raise ValueError(f"{self.name}: the joined tensors must have one shape; got "
                             f"{sorted(shapes, key=str)}.")
        super().build(input_shape)

    def call(self, inputs, training=None):
        paths, selection = self._split(inputs)
        n = len(paths)
        if n == 1:
            return paths[0]
        if not training or (self.drop_rate == 0.0 and selection is None):
            return tf.add_n(paths) * (1.0 / n)
        dtype = paths[0].dtype
        batch = tf.shape(paths[0])[0]
        keep = self._local_mask(n, batch)
        if selection is not None:
            keep = self._global_mask(keep, tf.cast(selection, tf.int32), n)
        keep = tf.cast(keep, dtype)
        weights = keep / tf.reduce_sum(keep, axis=0, keepdims=True)  # (n, batch)
        rank = len(paths[0].shape)
        outputs = [path * tf.reshape(weights[i], tf.concat([[batch], [1] * (rank - 1)], 0))
                   for i, path in enumerate(paths)]
        return tf.add_n(outputs)

    def _local_mask(self, n, batch):
        """(n, batch) booleans: input i kept for sample s, at least one per sample."""
        if self.drop_rate == 0.0:
            return tf.ones([n, batch], tf.bool)
        keep = tf.random.uniform([n, batch], seed=self.seed) >= self.drop_rate
        survivor = tf.random.uniform([batch], maxval=n, dtype=tf.int32,
                                     seed=_second_seed(self.seed))
        survivor = tf.cast(tf.one_hot(survivor, n, axis=0), tf.bool)
        none_kept = tf.logical_not(tf.reduce_any(keep, axis=0, keepdims=True))
        return tf.where(none_kept, survivor, keep)

    def _global_mask(self, keep, selection, n):
        columns = self.columns if self.columns is not None else tuple(range(1, n + 1))
        columns = tf.constant(columns, tf.int32)[:, None]
        chosen = tf.equal(columns, selection[None, :])  # (n, batch)
        reached = tf.reduce_any(chosen, axis=0, keepdims=True)
        global_keep = tf.logical_or(chosen, tf.logical_not(reached))
        return tf.where(selection[None, :] > 0, global_keep, keep)

    def compute_output_shape(self, input_shape):
        paths, _ = self._split(input_shape)
        return tuple(paths[0])

    def get_config(self):
        config = super().get_config()
        config.update(columns=None if self.columns is None else list(self.columns),
                      drop_rate=self.drop_rate, seed=self.seed)
        return config
