"""The one training runtime: strategy, loop, checkpoints, summaries, EMA.

See :mod:`tfface.training.method` for the contract a method implements and
:mod:`tfface.training.loop` for what the runtime does with it.
"""

from tfface.training.ema import WeightEMA
from tfface.training.gradients import conditional_minimize
from tfface.training.gradients import minimize
from tfface.training.loop import ExistingRunError
from tfface.training.loop import LoopConfig
from tfface.training.loop import NonFiniteLossError
from tfface.training.loop import run_training
from tfface.training.method import TrainingMethod
from tfface.training.seeding import set_global_seed
from tfface.training.seeding import step_seed
from tfface.training.strategy import make_strategy
