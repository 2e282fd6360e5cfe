"""Gradients with respect to a model's input, one layer's activations or its weights.

Chapter 5 differentiates with respect to the input (saliency, adversarial attacks, Grad-CAM);
Section 3.4 with respect to the weights (backpropagation through a convolution, and the
gradient that reaches each layer of a deep network).

Keras 3 has no backend-neutral ``gradient`` op: each backend differentiates in its own way
(TensorFlow records a ``tf.GradientTape``, JAX transforms a pure function with ``jax.grad``,
PyTorch runs ``torch.autograd``). So the book's notebooks never differentiate themselves; they
call :func:`input_gradient`, :func:`grad_cam` or :func:`weight_gradients`, which reach private
functions that dispatch on ``keras.backend.backend()``.

The JAX and PyTorch branches follow the Keras 3 documentation (``Layer.stateless_call`` with
``jax.grad``; ``torch.autograd.grad`` on a leaf tensor). ``make test`` runs the unit tests on all
three backends (``make unit-jax unit-torch``, each in its own virtual environment), so every
branch meets the same tests, finite differences among them.

Import this module after :func:`helpers.environment.prepare` has chosen the backend. Images
are channels-last, ``(batch, height, width, channels)``, in the model's own input units (the
book's MNIST models take raw 0-255 pixels and rescale inside the model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import keras
import numpy as np

from helpers.checks import class_indices, classifier_shapes, model_images, positive_int

__all__ = ["SUPPORTED_BACKENDS", "grad_cam", "input_gradient", "weight_gradients"]

Quantity = Literal["output", "loss"]
ScoreFn = Callable[[object], object]
"""Maps the model's output tensor ``(n, classes)`` to one scalar per example ``(n,)``."""


def _tensorflow_gradient(
    model: keras.Model, inputs: np.ndarray, score_fn: ScoreFn
) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = model(x, training=False)
        total = tf.reduce_sum(score_fn(outputs))
    gradient = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return gradient.numpy(), keras.ops.convert_to_numpy(outputs)


def _jax_gradient(  # pragma: no cover - JAX is not in the pinned environment
    model: keras.Model, inputs: np.ndarray, score_fn: ScoreFn
) -> tuple[np.ndarray, np.ndarray]:
    import jax
    import jax.numpy as jnp

    # jax.grad needs a pure function, so the weights go in as values (stateless_call), not
    # as the model's stateful variables.
    trainable = [variable.value for variable in model.trainable_variables]
    non_trainable = [variable.value for variable in model.non_trainable_variables]

    def objective(x):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return jnp.sum(score_fn(outputs)), outputs

    gradient, outputs = jax.grad(objective, has_aux=True)(jnp.asarray(inputs))
    return np.asarray(gradient), np.asarray(outputs)


def _torch_gradient(  # pragma: no cover - PyTorch is not in the pinned environment
    model: keras.Model, inputs: np.ndarray, score_fn: ScoreFn
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    # convert_to_tensor puts the tensor on Keras' device (a GPU when there is one), in the
    # inputs' own dtype (without it, float64 arrays become floatx); a detached clone is a
    # fresh leaf, so autograd can differentiate with respect to it.
    x = keras.ops.convert_to_tensor(inputs, dtype=inputs.dtype.name)
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        outputs = model(x, training=False)
        total = torch.sum(score_fn(outputs))
        # autograd.grad returns the gradient instead of accumulating it into .grad of the
        # model's parameters, so the model is left exactly as it was.
        (gradient,) = torch.autograd.grad(total, x, allow_unused=True)
    if gradient is None:
        gradient = torch.zeros_like(x)
    return gradient.detach().cpu().numpy(), outputs.detach().cpu().numpy()


_GRADIENT_BY_BACKEND: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "tensorflow": _tensorflow_gradient,
    "jax": _jax_gradient,
    "torch": _torch_gradient,
}
SUPPORTED_BACKENDS = tuple(_GRADIENT_BY_BACKEND)
"""The Keras backends that :func:`input_gradient` and :func:`grad_cam` can differentiate on."""


def _for_backend(implementations: dict[str, Callable]) -> Callable:
    """The implementation for the backend Keras runs on, or a clear error naming the others."""
    backend = keras.backend.backend()
    try:
        return implementations[backend]
    except KeyError:
        raise NotImplementedError(
            f"gradients are implemented for the Keras backends {SUPPORTED_BACKENDS}, "
            f"but Keras runs on {backend!r}; set KERAS_BACKEND to one of them"
        ) from None

def _gradient_of_score(
    model: keras.Model, inputs: np.ndarray, score_fn: ScoreFn
) -> tuple[np.ndarray, np.ndarray]:
    """The gradient of ``sum(score_fn(model(inputs)))`` with respect to ``inputs``.

    Examples do not interact in inference mode (``training=False``), so the gradient of the
    sum, row by row, is each example's own gradient. Returns ``(gradient, outputs)`` as NumPy
    arrays; the gradient has the shape of ``inputs``.
    """
    return _for_backend(_GRADIENT_BY_BACKEND)(model, inputs, score_fn)


def _score_fn(labels: np.ndarray, quantity: Quantity, from_logits: bool) -> ScoreFn:
    """The scalar per example to differentiate, written with backend-neutral keras.ops."""
    if quantity == "output":

        def score(outputs):
            dtype = keras.backend.standardize_dtype(outputs.dtype)
            one_hot = np.eye(outputs.shape[-1], dtype=dtype)[labels]
            return keras.ops.sum(outputs * keras.ops.convert_to_tensor(one_hot), axis=-1)

        return score

    def loss(outputs):
        return keras.losses.sparse_categorical_crossentropy(
            labels, outputs, from_logits=from_logits
        )

    return loss


def _check_quantity(quantity: object, from_logits: object) -> None:
    if quantity not in ("output", "loss"):
        raise ValueError(f"quantity must be 'output' or 'loss', got {quantity!r}")
    if not isinstance(from_logits, bool):
        raise ValueError(f"from_logits must be True or False, got {from_logits!r}")


def input_gradient(
    model: keras.Model,
    images: object,
    class_index: int | object,
    *,
    quantity: Quantity = "output",
    from_logits: bool = False,
    batch_size: int = 128,
) -> np.ndarray:
    """The gradient of one scalar per image with respect to that image's pixels.

    ``quantity="output"`` differentiates the model's output for class ``class_index`` (the
    probability for a softmax model, the logit for a logits model); ``quantity="loss"``
    differentiates the sparse categorical cross-entropy with ``class_index`` as the label
    (``from_logits`` as for ``keras.losses.SparseCategoricalCrossentropy``), which is what
    adversarial attacks climb. ``class_index`` is an int for all images or one int per image.

    The model is called with ``training=False`` (dropout off) and ``images`` in the model's
    input units, so for the book's MNIST models the gradient is per 0-255 pixel step.
    Returns a float NumPy array of the shape of ``images``, computed ``batch_size`` images
    at a time. Dispatches on ``keras.backend.backend()``; the unit tests run on all three.
    """
    expected, num_classes = classifier_shapes(model)
    array = model_images(model, images, expected)
    labels = class_indices("class_index", class_index, len(array), num_classes)
    _check_quantity(quantity, from_logits)
    batch_size = positive_int("batch_size", batch_size)
    pieces = []
    for start in range(0, len(array), batch_size):
        chunk = slice(start, start + batch_size)
        score = _score_fn(labels[chunk], quantity, from_logits)
        gradient, _ = _gradient_of_score(model, array[chunk], score)
        pieces.append(gradient)
    return np.concatenate(pieces)


def _split_at(model: keras.Model, layer_name: object) -> tuple[keras.Model, keras.Model]:
    """Two models: input -> the layer's output (features), and that output -> model output."""
    names = [layer.name for layer in model.layers]
    if not isinstance(layer_name, str) or layer_name not in names:
        raise ValueError(
            f"model {model.name!r} has no layer named {layer_name!r}; its layers are {names}"
        )
    layer = model.get_layer(layer_name)
    try:
        activation = layer.output
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"layer {layer_name!r} has no single output to split at: {error}"
        ) from None
    if len(activation.shape) != 4:
        raise ValueError(
            f"Grad-CAM needs a layer with a spatial output (batch, height, width, channels); "
            f"layer {layer_name!r} outputs shape {tuple(activation.shape)}"
        )
    features = keras.Model(model.inputs[0], activation)
    try:
        head = keras.Model(activation, model.outputs[0])
    except ValueError as error:
        raise ValueError(
            f"the part of model {model.name!r} after layer {layer_name!r} also reads the "
            "model's input by another path (a skip connection around the layer); choose a "
            f"layer that every path goes through ({error})"
        ) from None
    return features, head


def grad_cam(
    model: keras.Model,
    images: object,
    class_index: int | object,
    layer_name: str,
    *,
    batch_size: int = 128,
) -> np.ndarray:
    """Grad-CAM heatmaps (Selvaraju et al., 2017): where a layer saw evidence for a class.

    The model is split at ``layer_name`` (a convolution or pooling layer with output
    ``(n, h, w, k)``). Each of the ``k`` feature maps is weighted by the mean over ``h, w`` of
    the gradient of the class output with respect to it; the weighted sum, passed through
    ReLU, is resized bilinearly to the input's height and width and divided by its maximum.
    Returns a float array ``(n, height, width)`` in [0, 1], one map per image (all zeros where
    no feature map speaks for the class). The class output is what the model outputs: a
    probability for a softmax model, so for a very confident prediction the gradients, and
    the map, can be faint; it is still normalised to reach 1.

    The layer must be a direct layer of ``model`` (not inside a nested model), and every path
    from the input to the output must go through it. Gradients use the same backend dispatch
    as :func:`input_gradient`.
    """
    expected, num_classes = classifier_shapes(model)
    array = model_images(model, images, expected)
    labels = class_indices("class_index", class_index, len(array), num_classes)
    batch_size = positive_int("batch_size", batch_size)
    features, head = _split_at(model, layer_name)
    height, width = array.shape[1:3]
    maps = []
    for start in range(0, len(array), batch_size):
        chunk = slice(start, start + batch_size)
        activations = keras.ops.convert_to_numpy(features(array[chunk], training=False))
        score = _score_fn(labels[chunk], "output", from_logits=False)
        gradient, _ = _gradient_of_score(head, activations, score)
        weights = gradient.mean(axis=(1, 2))  # (n, k): how much each feature map matters
        cam = np.maximum(np.einsum("nhwk,nk->nhw", activations, weights), 0.0)
        resized = keras.ops.image.resize(
            cam[..., None].astype("float32"),
            (height, width),
            interpolation="bilinear",
            data_format="channels_last",
        )
        maps.append(keras.ops.convert_to_numpy(resized)[..., 0].astype("float64"))
    heat = np.maximum(np.concatenate(maps), 0.0)
    peak = heat.max(axis=(1, 2), keepdims=True)
    return np.divide(heat, peak, out=np.zeros_like(heat), where=peak > 0)


def _tensorflow_weight_gradients(model, inputs, loss_fn, training):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(model(tf.convert_to_tensor(inputs), training=training))
    gradients = tape.gradient(loss, model.trainable_variables,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [gradient.numpy() for gradient in gradients], float(loss)


def _jax_weight_gradients(model, inputs, loss_fn, training):  # pragma: no cover - not pinned
    import jax
    import jax.numpy as jnp

    trainable = [variable.value for variable in model.trainable_variables]
    non_trainable = [variable.value for variable in model.non_trainable_variables]

    def objective(values):
        outputs, _ = model.stateless_call(values, non_trainable, jnp.asarray(inputs),
                                          training=training)
        return loss_fn(outputs)

    loss, gradients = jax.value_and_grad(objective)(trainable)
    return [np.asarray(gradient) for gradient in gradients], float(loss)


def _torch_weight_gradients(model, inputs, loss_fn, training):  # pragma: no cover - not pinned
    import torch

    x = keras.ops.convert_to_tensor(inputs, dtype=inputs.dtype.name)
    values = [variable.value for variable in model.trainable_variables]
    with torch.enable_grad():
        loss = loss_fn(model(x, training=training))
        # autograd.grad returns the gradients and leaves every parameter's .grad untouched.
        gradients = torch.autograd.grad(loss, values, allow_unused=True)
    return [
        (torch.zeros_like(value) if gradient is None else gradient).detach().cpu().numpy()
        for value, gradient in zip(values, gradients, strict=True)
    ], float(loss.detach().cpu())


_WEIGHT_GRADIENTS_BY_BACKEND = {
    "tensorflow": _tensorflow_weight_gradients,
    "jax": _jax_weight_gradients,
    "torch": _torch_weight_gradients,
}


def weight_gradients(
    model: keras.Model,
    images: object,
    labels: object,
    *,
    from_logits: bool = False,
) -> tuple[dict[str, np.ndarray], float]:
    """The gradient of the mean cross-entropy over a batch with respect to every weight.

    ``labels`` are class indices (one per image); the loss is the mean of the sparse
    categorical cross-entropy over the batch, what ``model.fit`` differentiates in one step
    with that batch (without regularisation losses). The model is called in inference mode
    (``training=False``): no dropout mask, batch normalisation with its moving statistics, and
    nothing in the model changes. Returns ``(gradients, loss)``: a dict from each trainable
    variable's path (``"conv1/kernel"``, in the order of ``model.trainable_variables``) to its
    gradient, a NumPy array of its shape (the model's own name left out of the path, which a
    ``Sequential`` model adds), and the loss as a float. Dispatches on
    ``keras.backend.backend()``; the unit tests run on all three.
    """
    expected, num_classes = classifier_shapes(model)
    array = model_images(model, images, expected)
    targets = class_indices("labels", labels, len(array), num_classes)
    if not isinstance(from_logits, bool):
        raise ValueError(f"from_logits must be True or False, got {from_logits!r}")
    if not model.trainable_variables:
        raise ValueError(f"model {model.name!r} has no trainable weights to differentiate")

    def loss_fn(outputs):
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
            targets, outputs, from_logits=from_logits))

    gradients, loss = _for_backend(_WEIGHT_GRADIENTS_BY_BACKEND)(model, array, loss_fn, False)
    # A Sequential model puts its own name in front of its variables' paths, a functional
    # model does not; without it, the keys are the same for both.
    paths = [each.path.removeprefix(f"{model.name}/") for each in model.trainable_variables]
    return dict(zip(paths, gradients, strict=True)), loss
