"""The training step's Adam update and batch norm, each as one TensorFlow kernel: same algorithms, fewer passes.

Keras 3's Adam updates each variable with about fifteen separate TensorFlow
ops (casts, powers, the two moment updates, square root, division, assigns),
each a pass over the variable in memory; on the TF backend nothing fuses them
unless the whole step is compiled with XLA, which op determinism rules out.
`FusedAdam` hands the same update to ``ResourceApplyAdam``, one kernel per
variable. On 2 cores shared with another job, a Model A epoch (24,000
cells x 1000 genes, batch 256; best epoch of each, measured beside each
other in four runs) took 0.47-0.51 s instead of 0.49-0.59 s (5-12% less).

The kernel computes Keras's update in Keras's order (``alpha = lr *
sqrt(1 - beta_2^t) / (1 - beta_1^t)``, ``m += (g - m)(1 - beta_1)``,
``v += (g^2 - v)(1 - beta_2)``, ``var -= m alpha / (sqrt(v) + epsilon)``:
epsilon outside the square root, with the bias-corrected rate), with one
difference: it forms ``1 - beta`` in float32 from float32 ``beta``, where
Keras rounds the float64 ``1 - beta`` to float32. For the defaults that is
0.100000024 instead of 0.1 (3 ulps) and 0.0009999871 instead of 0.001 (111
ulps, 1.3e-5 relative), i.e. Adam with beta = float32(0.9), float32(0.999)
throughout, as Keras's bias correction already has them. With
those two constants Keras's own ops give bit-identical weights (tested);
against stock Keras Adam the weights differ from about the sixth digit.

`FusedBatchNormalization` does the same for batch norm in training: Keras 3
normalises with ``tf.nn.moments`` and ``tf.nn.batch_normalization``, a
dozen ops forward and more backward; ``FusedBatchNormV3`` computes the batch
mean and (biased) variance, normalises, and has one gradient kernel. The
moving statistics are updated with Keras's formula from the same batch
moments, and inference is Keras's own code. The results agree with Keras's
to float32 rounding (a different summation order), not bit for bit. With
`FusedAdam` in both, the epoch above took 0.42-0.46 s instead of 0.47-0.51 s
(two runs, 9-11% less). Not for XLA: compiled there, the kernel made the
epoch 5 s; XLA fuses Keras's layer by itself (the library never compiles
with XLA: op determinism rules it out).

Both are a training-time speed-up only: `stock_keras` turns a trained
network into Keras's own layers, uncompiled, which is what a run saves, so
`keras.models.load_model` reads a run's ``model.keras`` in any Python with
TensorFlow, without this package. Batch norm's inference is Keras's code in
both classes, so the copy predicts bit for bit what the network predicted
(under the same TensorFlow build and oneDNN setting; with oneDNN switched
off, logits moved by float32 rounding). The classes stay registered, so run
folders saved before the copy (with them inside) still load here.
"""

from __future__ import annotations

from typing import Any

from .backend import keras, tf


@keras.saving.register_keras_serializable(package="lmna_scrna")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose dense TensorFlow update is one ``ResourceApplyAdam`` kernel per variable.

    AMSGrad, sparse (`tf.IndexedSlices`) gradients and other backends keep Keras's own update.
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or keras.backend.backend() != "tensorflow":
            super().update_step(gradient, variable, learning_rate)
            return
        dtype = variable.dtype
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


@keras.saving.register_keras_serializable(package="lmna_scrna")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training pass over (cells, features) is one ``FusedBatchNormV3``.

    Anything else (inference, other ranks or axes, masks, renorm, no centre or
    scale, float16, synchronised statistics, other backends) is Keras's own code.
    """

    def _fusable(self, inputs: Any, training: bool | None, mask: Any) -> bool:
        return bool(
            training and self.trainable and mask is None and len(inputs.shape) == 2 and self.axis in (-1, 1)
            and self.center and self.scale and not self.renorm and not self.synchronized
            and inputs.dtype == "float32" and keras.backend.backend() == "tensorflow"
        )

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        features = inputs.shape[-1]
        empty = tf.constant([], tf.float32)
        outputs, mean, unbiased, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=tf.reshape(inputs, [-1, 1, 1, features]), scale=tf.convert_to_tensor(self.gamma),
            offset=tf.convert_to_tensor(self.beta), mean=empty, variance=empty, epsilon=self.epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=True,
        )
        # The kernel's batch variance is Bessel-corrected; Keras's moving variance averages the biased one.
        cells = tf.cast(tf.shape(inputs)[0], tf.float32)
        variance = unbiased * ((cells - 1.0) / cells)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.reshape(outputs, [-1, features])


def _stock_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new layer of the same config, of Keras's own class where the layer is one of this module's."""
    cls = keras.layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else type(layer)
    return cls.from_config(layer.get_config())


def stock_keras(model: keras.Model) -> keras.Model:
    """A copy of a functional `model` made only of Keras's own layers, with its weights, not compiled.

    What a run saves: a network for inference that needs nothing of this package to load.
    Without optimizer, loss or metrics (nothing resumes training from a saved run).
    `model` itself is left as it was (`networks.Networks` reuses it for the next fit).
    """
    graph = keras.Model(model.input, model.output, name=model.name)  # the same layers, without compile state
    stock = keras.models.clone_model(graph, clone_function=_stock_layer)
    for layer in graph.layers:
        stock.get_layer(layer.name).set_weights(layer.get_weights())
    return stock
