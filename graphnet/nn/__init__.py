"""Torch modules of every graphnet layer, usable on their own in any PyTorch code::

from graphnet.nn import ConvolutionLayer
conv = ConvolutionLayer(16, kernel_size=3, acti_func="prelu", in_chns=1, spatial_dims=3)
"""

from graphnet.nn.activation import ActiLayer as ActiLayer
from graphnet.nn.augment import RandomFlipLayer as RandomFlipLayer
from graphnet.nn.augment import RandomRotationLayer as RandomRotationLayer
from graphnet.nn.augment import RandomSpatialScalingLayer as RandomSpatialScalingLayer
from graphnet.nn.augment_fuse import FusedSpatialAugmentation as FusedSpatialAugmentation
from graphnet.nn.conv import ConvLayer as ConvLayer
from graphnet.nn.conv import DeconvLayer as DeconvLayer
from graphnet.nn.convolution import ConvolutionLayer as ConvolutionLayer
from graphnet.nn.convolution import DeconvolutionLayer as DeconvolutionLayer
from graphnet.nn.crf import CRFAsRNNLayer as CRFAsRNNLayer
from graphnet.nn.dilated import DilatedContext as DilatedContext
from graphnet.nn.elementwise import ElementwiseLayer as ElementwiseLayer
from graphnet.nn.extra import CropToMatchLayer as CropToMatchLayer
from graphnet.nn.extra import GlobalPoolLayer as GlobalPoolLayer
from graphnet.nn.extra import LinearUpSampleLayer as LinearUpSampleLayer
from graphnet.nn.extra import MergeLayer as MergeLayer
from graphnet.nn.extra import SoftmaxLayer as SoftmaxLayer
from graphnet.nn.fully_connected import FullyConnectedLayer as FullyConnectedLayer
from graphnet.nn.init import regularization_loss as regularization_loss
from graphnet.nn.loss import LossFunction as LossFunction
from graphnet.nn.norm import BNLayer as BNLayer
from graphnet.nn.norm import GNLayer as GNLayer
from graphnet.nn.norm import InstanceNormLayer as InstanceNormLayer
from graphnet.nn.normalisation import HistogramNormalisationLayer as HistogramNormalisationLayer
from graphnet.nn.normalisation import MeanVarNormalisationLayer as MeanVarNormalisationLayer
from graphnet.nn.sampling import CropLayer as CropLayer
from graphnet.nn.sampling import DownSampleLayer as DownSampleLayer
from graphnet.nn.sampling import LinearResizeLayer as LinearResizeLayer
from graphnet.nn.sampling import UpSampleLayer as UpSampleLayer

__all__ = [
    "ActiLayer",
    "BNLayer",
    "CRFAsRNNLayer",
    "ConvLayer",
    "ConvolutionLayer",
    "CropLayer",
    "CropToMatchLayer",
    "DeconvLayer",
    "DeconvolutionLayer",
    "DilatedContext",
    "DownSampleLayer",
    "ElementwiseLayer",
    "FullyConnectedLayer",
    "FusedSpatialAugmentation",
    "GNLayer",
    "GlobalPoolLayer",
    "HistogramNormalisationLayer",
    "InstanceNormLayer",
    "LinearResizeLayer",
    "LinearUpSampleLayer",
    "LossFunction",
    "MeanVarNormalisationLayer",
    "MergeLayer",
    "RandomFlipLayer",
    "RandomRotationLayer",
    "RandomSpatialScalingLayer",
    "SoftmaxLayer",
    "UpSampleLayer",
    "regularization_loss",
]
