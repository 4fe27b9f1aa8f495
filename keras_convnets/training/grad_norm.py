"""Gradient normalisation for multi-head training: GradNorm (Chen, Badrinarayanan, Lee &
Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep Multitask
Networks", ICML 2018, arXiv:1711.02257).

The seed's best-practice table recommends gradient normalisation for GAN / multi-task training;
in this package the multi-head case is a network with auxiliary classifiers (GoogLeNet,
Inception-v3 with ``aux_logits=True``), trained on ``sum_i w_i L_i``. Instead of the paper's
fixed weights (``kc.aux_loss_weights``: 1.0 and 0.3 or 0.4), GradNorm adapts ``w_i`` in every
step so that each head's gradient on the last shared layer ``W`` has a norm proportional to
how slowly that head is learning (Section 3, Eq. 1-2)::

    G_i     = || grad_W (w_i L_i) || = w_i || grad_W L_i ||
    G_mean  = mean_i G_i
    r_i     = (L_i / L_i(0)) / mean_j (L_j / L_j(0))        # relative inverse training rate
    L_grad  = sum_i | G_i - G_mean * r_i ** alpha |          # target held constant
    w_i    <- w_i - lr_w * d L_grad / d w_i = w_i - lr_w * sign(G_i - target_i) * ||grad_W L_i||

then the weights are renormalised to their initial sum (the paper's ``sum w_i = T`` for initial
weights of 1). The network itself takes its optimizer's step on ``sum_i w_i L_i`` with the
weights before this update. Because ``G_i`` is linear in ``w_i`` the derivative above is exact,
so no second-order gradient is needed: one extra backward pass per head, from its loss to ``W``.
``alpha`` (the paper's asymmetry, 1.5 for NYUv2) sets how strongly slow heads are favoured; 0
equalises the gradient norms.

    model = kc.GoogLeNet(aux_logits=True, classes=10)
    trainer = GradNorm(model, "sparse_categorical_crossentropy")
    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    trainer.fit(images, labels, epochs=3)          # one label array serves every head
    trainer.task_weights.numpy()                    # the adapted weights
    kc.inference_model(model).save("googlenet.keras")
"""

from ..backend import keras, tf


def _outputs(network):
    outputs = network.outputs
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def shared_kernel(network):
    """The kernel of the last layer (in the model's order) that every output depends on: the
    paper's ``W`` (the last shared layer). Found from which weights each output's gradient
    reaches, on a zero batch; needs a fixed input size."""
    shape = tuple(network.inputs[0].shape[1:])
    if None in shape or len(network.inputs) != 1:
        raise ValueError(
            f"GradNorm: cannot find {network.name}'s last shared layer without a fixed input "
            f"size (input shape {shape}); pass `shared_weights`.")
    x = tf.zeros((2, *shape))
    candidates = [w for w in network.trainable_weights if len(w.shape) >= 2]
    with tf.GradientTape(persistent=True) as tape:
        outputs = network(x, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        totals = [tf.reduce_sum(o) for o in outputs]
    reached = [[g is not None for g in tape.gradient(t, candidates)] for t in totals]
    shared = [w for w, *flags in zip(candidates, *reached) if all(flags)]
    if not shared:
        raise ValueError(f"GradNorm: {network.name}'s outputs share no kernel.")
    return [shared[-1]]


def _loss_objects(losses, count):
    if isinstance(losses, (list, tuple)):
        if len(losses) != count:
            raise ValueError(f"`losses`: {len(losses)} given for {count} outputs.")
    else:
        losses = [losses] * count
    return [keras.losses.get(loss) for loss in losses]


class GradNorm(keras.Model):
    """Trains ``network`` (a model with several outputs) on ``sum_i w_i L_i`` with GradNorm
    adapting the weights ``w_i`` (module docstring).

    ``losses``: one loss for every output, or one per output. ``initial_weights``: the starting
    ``w_i`` (default: ``kc.aux_loss_weights(network)`` for a registered model with auxiliary
    classifiers, else all 1); their sum is kept. ``alpha``: the asymmetry; ``weight_learning_rate``:
    the step on ``w_i``; ``shared_weights``: the variables ``W`` whose gradient norms are
    balanced (default: :func:`shared_kernel`). Targets: one array for every output, or a list
    with one per output. ``fit`` logs ``loss`` (the weighted sum), ``loss_<i>`` and
    ``weight_<i>`` per output; ``task_weights`` holds the current weights.
    """

    def __init__(self, network, losses, *, alpha=1.5, weight_learning_rate=0.025,
                 initial_weights=None, shared_weights=None, minimum_weight=1e-3, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{network.name}_gradnorm"), **kwargs)
        self.network = network
        self.count = len(_outputs(network))
        if self.count < 2:
            raise ValueError(f"GradNorm needs a model with several outputs; {network.name} "
                             f"has one (build it with aux_logits=True).")
        self.loss_functions = _loss_objects(losses, self.count)
        for name, value in (("alpha", alpha), ("weight_learning_rate", weight_learning_rate),
                            ("minimum_weight", minimum_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{name}` must be a number >= 0; got {value!r}.")
        self.alpha = float(alpha)
        self.weight_learning_rate = float(weight_learning_rate)
        self.minimum_weight = float(minimum_weight)
        if initial_weights is None:
            try:
                from ..applications import aux_loss_weights  # noqa: PLC0415

                initial_weights = aux_loss_weights(network)
            except ValueError:
                initial_weights = [1.0] * self.count
        initial_weights = [float(w) for w in initial_weights]
        if len(initial_weights) != self.count or min(initial_weights) <= 0:
            raise ValueError(f"`initial_weights` must be {self.count} positive numbers; got "
                             f"{initial_weights!r}.")
        self.weight_sum = sum(initial_weights)
        self.shared_weights = list(shared_weights or shared_kernel(network))
        self.task_weights = tf.Variable(initial_weights, trainable=False, name="task_weights")
        self.initial_losses = tf.Variable(tf.zeros(self.count), trainable=False,
                                          name="initial_losses")
        self.steps_taken = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps_taken")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.task_trackers = [keras.metrics.Mean(name=f"loss_{i}") for i in range(self.count)]

    @property
    def metrics(self):
        return [self.loss_tracker, *self.task_trackers]

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    def _targets(self, y):
        if isinstance(y, (list, tuple)):
            if len(y) != self.count:
                raise ValueError(f"GradNorm: {len(y)} targets for {self.count} outputs.")
            return list(y)
        return [y] * self.count

    def _task_losses(self, x, y, training):
        outputs = self.network(x, training=training)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [tf.reduce_mean(tf.cast(loss(target, out), tf.float32))
                for loss, target, out in zip(self.loss_functions, self._targets(y), outputs)]

    def _logs(self):
        logs = {m.name: m.result() for m in self.metrics}
        logs.update({f"weight_{i}": self.task_weights[i] for i in range(self.count)})
        return logs

    def balance(self, losses, shared_gradient_norms):
        """One GradNorm update of ``task_weights`` from this step's task losses and the norms
        ``||grad_W L_i||``; returns the new weights."""
        losses = tf.stack(losses)
        norms = tf.stack(shared_gradient_norms)
        first = tf.equal(self.steps_taken, 0)
        initial = tf.where(first, losses, self.initial_losses)
        self.initial_losses.assign(initial)
        weights = tf.convert_to_tensor(self.task_weights)
        grad_norms = weights * norms                                  # G_i
        ratios = losses / tf.maximum(initial, 1e-12)                  # L_i(t) / L_i(0)
        relative = ratios / tf.reduce_mean(ratios)                    # r_i
        target = tf.stop_gradient(tf.reduce_mean(grad_norms) * relative ** self.alpha)
        step = tf.sign(grad_norms - target) * norms                   # d L_grad / d w_i
        weights = tf.maximum(weights - self.weight_learning_rate * step, self.minimum_weight)
        weights = weights * (self.weight_sum / tf.reduce_sum(weights))
        self.task_weights.assign(weights)
        self.steps_taken.assign_add(1)
        return weights

    def train_step(self, data):
        x, y = data[0], data[1]
        variables = self.network.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            losses = self._task_losses(x, y, training=True)
            weighted = tf.add_n([w * loss for w, loss in
                                 zip(tf.unstack(tf.convert_to_tensor(self.task_weights)),
                                     losses)])
            total = weighted
            if self.network.losses:  # regularisation
                total += tf.add_n([tf.cast(r, tf.float32) for r in self.network.losses])
        gradients = tape.gradient(total, variables)
        norms = [tf.linalg.global_norm(tape.gradient(loss, self.shared_weights))
                 for loss in losses]
        del tape
        self.optimizer.apply_gradients(zip(gradients, variables))
        self.balance(losses, norms)
        self.loss_tracker.update_state(total)
        for tracker, loss in zip(self.task_trackers, losses):
            tracker.update_state(loss)
        return self._logs()

    def test_step(self, data):
        x, y = data[0], data[1]
        losses = self._task_losses(x, y, training=False)
        total = tf.add_n([w * loss for w, loss in
                          zip(tf.unstack(tf.convert_to_tensor(self.task_weights)), losses)])
        self.loss_tracker.update_state(total)
        for tracker, loss in zip(self.task_trackers, losses):
            tracker.update_state(loss)
        return self._logs()


__all__ = ["GradNorm", "shared_kernel"]
