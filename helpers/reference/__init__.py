"""NumPy reference implementations of the maths in Chapter 3, one module a topic.

Each function here is the plain-array version of something a Keras layer or loss computes,
and the unit tests check every one against Keras (and SciPy where it has the operation):

* :mod:`helpers.reference.convolution`: convolution and pooling (``Conv2D``,
  ``MaxPooling2D``, ``AveragePooling2D``), depthwise-separable convolution
  (``DepthwiseConv2D``, ``SeparableConv2D``) and backpropagation through them;
* :mod:`helpers.reference.losses`: softmax, cross-entropy and squared error;
* :mod:`helpers.reference.backprop`: a two-layer network's forward and backward pass, and
  finite differences to check a gradient;
* :mod:`helpers.reference.recurrent`: the ``SimpleRNN`` and ``LSTM`` recurrences with Keras'
  own weight layouts;
* :mod:`helpers.reference.gan`: the GAN value function and the generator's losses;
* :mod:`helpers.reference.activations`: sigmoid, tanh and ReLU and their derivatives;
* :mod:`helpers.reference.initialisers`: Glorot and He initialisation;
* :mod:`helpers.reference.normalisation`: dropout and batch normalisation, in training and
  in inference;
* :mod:`helpers.reference.optimisers`: SGD with momentum, Adam, decoupled weight decay and
  the cosine schedule with warm-up.

Chapter 3 derives each formula and calls these functions as ``reference.conv2d`` and so on:
every one is importable from this package. They are written to be read, not to be fast: use
the Keras layers for real work.
"""

from __future__ import annotations

from helpers.reference.activations import (
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
    tanh_derivative,
)
from helpers.reference.backprop import mlp_forward, mlp_gradients, numerical_gradient
from helpers.reference.convolution import (
    avg_pool2d,
    conv2d,
    conv2d_gradients,
    conv_output_size,
    convolve2d,
    depthwise_conv2d,
    max_pool2d,
    max_pool2d_gradient,
    separable_conv2d,
)
from helpers.reference.gan import gan_value, generator_loss, optimal_discriminator
from helpers.reference.initialisers import fans, glorot_uniform, he_normal
from helpers.reference.losses import cross_entropy, log_softmax, softmax, squared_error
from helpers.reference.normalisation import batch_normalization, dropout
from helpers.reference.optimisers import adam_step, cosine_decay, sgd_step
from helpers.reference.recurrent import lstm, lstm_step, simple_rnn

__all__ = [
    "adam_step",
    "avg_pool2d",
    "batch_normalization",
    "conv2d",
    "conv2d_gradients",
    "conv_output_size",
    "convolve2d",
    "cosine_decay",
    "cross_entropy",
    "depthwise_conv2d",
    "dropout",
    "fans",
    "gan_value",
    "generator_loss",
    "glorot_uniform",
    "he_normal",
    "log_softmax",
    "lstm",
    "lstm_step",
    "max_pool2d",
    "max_pool2d_gradient",
    "mlp_forward",
    "mlp_gradients",
    "numerical_gradient",
    "optimal_discriminator",
    "relu",
    "relu_derivative",
    "separable_conv2d",
    "sgd_step",
    "sigmoid",
    "sigmoid_derivative",
    "simple_rnn",
    "softmax",
    "squared_error",
    "tanh_derivative",
]
