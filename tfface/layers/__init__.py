"""Building blocks shared by the networks of every method.

Equalized-learning-rate dense/conv layers, the fused bias + leaky ReLU, FIR
blur/up/down-sampling, StyleGAN2's modulated convolution, noise injection,
ToRGB, minibatch standard deviation and pixel norm; AdaIN and its conv unit;
Dense/LeakyReLU stacks; 3D feature-volume rotation and upsampling; and
:func:`track`, the one way a layer registers the layers it keeps in a list.
All NHWC (NDHWC for volumes), all gin-free.
"""

from tfface.layers.adain import adaptive_instance_norm
from tfface.layers.adain import AdaIN
from tfface.layers.adain import ConvAdaIN
from tfface.layers.adain import instance_norm

from tfface.layers.equalized import EqualizedConv2D
from tfface.layers.equalized import EqualizedDense
from tfface.layers.equalized import fused_leaky_relu
from tfface.layers.equalized import FusedBiasLeakyReLU
from tfface.layers.fir import Blur
from tfface.layers.fir import Downsample
from tfface.layers.fir import downsample_2x
from tfface.layers.fir import make_kernel
from tfface.layers.fir import upfirdn2d
from tfface.layers.fir import Upsample
from tfface.layers.fir import upsample_2x
from tfface.layers.mlp import leaky_stack
from tfface.layers.mlp import MLP
from tfface.layers.modulated import ConstantInput
from tfface.layers.modulated import ModulatedConv2D
from tfface.layers.modulated import NoiseInjection
from tfface.layers.modulated import StyledConv
from tfface.layers.modulated import ToRGB
from tfface.layers.normalization import minibatch_stddev
from tfface.layers.normalization import MinibatchStddev
from tfface.layers.normalization import pixel_norm
from tfface.layers.normalization import PixelNorm
from tfface.layers.tracking import track
from tfface.layers.tracking import tracked
from tfface.layers.volume import rotate_volume
from tfface.layers.volume import upsample_nearest
