"""Building a method's optimizers: Adam by default, any Keras optimizer from gin.

Methods take an optional ``optimizer`` factory (a gin reference such as
``@tf.keras.optimizers.Adam`` with its own bindings, or any callable accepting
``name=``) and fall back to Adam with the method's documented learning rate
and betas. When a regularizer runs lazily every k-th step,
:func:`make_optimizer` applies StyleGAN2's adjustment (Appendix B) to either:
``lr·c``, ``β1**c``, ``β2**c`` with ``c = k / (k + 1)``.
"""

from typing import Callable, Optional, Sequence

from absl import logging
import tensorflow as tf

from tfface.losses import gan as gan_losses

OptimizerFactory = Callable[..., tf.keras.optimizers.Optimizer]


def make_optimizer(factory: Optional[OptimizerFactory] = None, *,
                   name: str,
                   learning_rate: float,
                   beta_1: float = 0.9,
                   beta_2: float = 0.999,
                   epsilon: float = 1e-7,
                   lazy_reg_every: int = 0,
                   variables: Optional[Sequence[tf.Variable]] = None
                   ) -> tf.keras.optimizers.Optimizer:
  """An optimizer for one network group, built for ``variables``.

  Args:
    factory: ``factory(name=...)`` makes the optimizer (its hyper-parameters
      come from gin); None makes ``Adam(learning_rate, beta_1, beta_2,
      epsilon)``.
    name: the optimizer's name (its checkpoint key is the method's).
    learning_rate, beta_1, beta_2, epsilon: the default Adam's settings.
    lazy_reg_every: k > 0 when a regularizer of this group takes an extra
      step every k steps (lazy R1, lazy path length); 0 for none.
    variables: if given, the optimizer is built for them (do this inside
      ``strategy.scope()`` before the first compiled step).

  Returns:
    The (built) Keras optimizer.
  """
  if factory is None:
    lr, b1, b2 = gan_losses.lazy_regularization_adjustment(
        learning_rate, beta_1, beta_2, lazy_reg_every)
    optimizer = tf.keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2,
                                         epsilon=epsilon, name=name)
  else:
    optimizer = factory(name=name)
    if not isinstance(optimizer, tf.keras.optimizers.Optimizer):
      raise ValueError(f"optimizer factory for {name!r} returned "
                       f"{type(optimizer).__name__}; expected a Keras "
                       "optimizer (e.g. @tf.keras.optimizers.Adam)")
    if lazy_reg_every > 0:
      adjust_for_lazy_regularization(optimizer, lazy_reg_every)
  if variables is not None:
    optimizer.build(list(variables))
  return optimizer


def adjust_for_lazy_regularization(optimizer: tf.keras.optimizers.Optimizer,
                                   reg_every: int) -> None:
  """Applies StyleGAN2's lazy-regularization adjustment to an optimizer.

  The learning rate (unless it is a schedule, which is left as it is, with a
  warning) is multiplied by ``c = k / (k + 1)`` and Adam-style ``beta_1`` /
  ``beta_2`` are raised to the power ``c``. Call before ``build``.
  """
  c = reg_every / (reg_every + 1.0)
  schedule = getattr(optimizer, "_learning_rate", None)
  if isinstance(schedule, tf.keras.optimizers.schedules.LearningRateSchedule):
    logging.warning("%s: learning-rate schedule left unadjusted for lazy "
                    "regularization every %d steps", optimizer.name, reg_every)
  else:
    optimizer.learning_rate = float(optimizer.learning_rate) * c
  for beta in ("beta_1", "beta_2"):
    if hasattr(optimizer, beta):
      setattr(optimizer, beta, getattr(optimizer, beta)**c)
