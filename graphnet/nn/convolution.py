"""NiftyNet's composite layers: (de)convolution -> normalisation -> activation -> dropout.

    >>> import torch
    >>> layer = ConvolutionLayer(8, acti_func="relu", in_chns=1, spatial_dims=3)
    >>> [name for name, _ in layer.named_children()]
    ['conv', 'norm', 'acti']
    >>> layer(torch.randn(2, 1, 8, 8, 8)).shape
    torch.Size([2, 8, 8, 8, 8])

Each composite is an `nn.Sequential` of named stages, so `state_dict` keys read
`conv.weight`, `norm.gamma`, `acti.alpha`, and a stage that is not configured is simply absent.
As in NiftyNet (reference §0.4, §3.2, §4), `w_regularizer` also penalises the normalisation's
`gamma`/`beta` (batch and group norm) and PReLU's `alpha`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from graphnet.nn.activation import ActiLayer
from graphnet.nn.conv import ConvLayer, DeconvLayer
from graphnet.nn.init import InitSpec, RegSpec
from graphnet.nn.norm import make_norm, normalize_kind

__all__ = ["ConvolutionLayer", "DeconvolutionLayer", "composite_stages", "feature_stages"]

IntOrSeq = int | Sequence[int]


def feature_stages(
    feature_normalization: str | None,
    n_chns: int,
    *,
    group_size: int = -1,
    acti_func: str | None = None,
    keep_prob: float | None = None,
    moving_decay: float = 0.9,
    eps: float = 1e-5,
    regularizer: RegSpec = None,
) -> list[tuple[str, nn.Module]]:
    """NiftyNet's `activation()` helper as named stages: `norm`, `acti`, `dropout`, each only
    when configured, all on `n_chns` channels. `regularizer` goes to the norm and to PReLU.

    >>> [name for name, _ in feature_stages("batch", 4, keep_prob=0.5)]
    ['norm', 'dropout']
    """
    stages: list[tuple[str, nn.Module]] = []
    kind = normalize_kind(feature_normalization, group_size)
    if kind != "none":
        norm = make_norm(
            kind, n_chns, group_size=group_size, moving_decay=moving_decay, eps=eps,
            regularizer=regularizer,
        )  # fmt: skip
        stages.append(("norm", norm))
    if acti_func is not None:
        stages.append(("acti", ActiLayer(acti_func, in_chns=n_chns, regularizer=regularizer)))
    if keep_prob is not None:
        stages.append(("dropout", ActiLayer("dropout", keep_prob=keep_prob)))
    return stages


def composite_stages(
    core: tuple[str, nn.Module],
    n_chns: int,
    feature_normalization: str | None,
    group_size: int,
    acti_func: str | None,
    w_regularizer: RegSpec,
    moving_decay: float,
    eps: float,
    keep_prob: float | None,
    *,
    preactivation: bool = False,
) -> OrderedDict[str, nn.Module]:
    """A composite layer's stages: the `(name, module)` `core`, then `feature_stages` on
    `n_chns` channels (before the core with `preactivation`). The options come in the order
    of the composites' signatures; `w_regularizer` also goes to the norm and PReLU.

    >>> list(composite_stages(("fc", nn.Identity()), 4, None, -1, "relu", None, 0.9, 1e-5, 0.5))
    ['fc', 'acti', 'dropout']
    """
    post = feature_stages(
        feature_normalization, n_chns, group_size=group_size, acti_func=acti_func,
        keep_prob=keep_prob, moving_decay=moving_decay, eps=eps, regularizer=w_regularizer,
    )  # fmt: skip
    return OrderedDict([*post, core] if preactivation else [core, *post])


class ConvolutionLayer(nn.Sequential):
    """NiftyNet's `ConvolutionalLayer`: `conv -> norm -> acti -> dropout`, or with
    `preactivation` `norm -> acti -> dropout -> conv` (the norm then sees `in_chns` channels).

    Input `(N, in_chns, *spatial)` with `spatial_dims` spatial axes; output
    `(N, n_output_chns, *conv_out)` with TF's SAME/VALID sizes (see `ConvLayer`).
    With the defaults this is a bias-free convolution followed by batch norm, no activation.
    `feature_normalization` is `"batch"`, `"instance"`, `"group"` (with `group_size` groups)
    or `None`; `keep_prob` adds dropout (`None`: no dropout stage).
    """

    conv: ConvLayer

    def __init__(
        self,
        n_output_chns: int,
        kernel_size: IntOrSeq = 3,
        stride: IntOrSeq = 1,
        dilation: IntOrSeq = 1,
        padding: str = "SAME",
        with_bias: bool = False,
        feature_normalization: str | None = "batch",
        group_size: int = -1,
        acti_func: str | None = None,
        preactivation: bool = False,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        b_initializer: InitSpec = None,
        b_regularizer: RegSpec = None,
        moving_decay: float = 0.9,
        eps: float = 1e-5,
        padding_constant: float = 0.0,
        keep_prob: float | None = None,
        *,
        in_chns: int,
        spatial_dims: int,
    ) -> None:
        conv = ConvLayer(
            n_output_chns, kernel_size, stride, dilation, padding, with_bias,
            w_initializer, w_regularizer, b_initializer, b_regularizer, padding_constant,
            in_chns=in_chns, spatial_dims=spatial_dims,
        )  # fmt: skip
        stages = composite_stages(
            ("conv", conv), in_chns if preactivation else n_output_chns, feature_normalization,
            group_size, acti_func, w_regularizer, moving_decay, eps, keep_prob,
            preactivation=preactivation,
        )  # fmt: skip
        super().__init__(stages)
        self.preactivation = preactivation


class DeconvolutionLayer(nn.Sequential):
    """NiftyNet's `DeconvolutionalLayer`: `deconv -> norm -> acti -> dropout`.

    Input `(N, in_chns, *spatial)` (2 or 3 spatial axes in NiftyNet); output
    `(N, n_output_chns, *out)` with `out = n * stride` (SAME) or `n * stride + max(k - stride, 0)`
    (VALID), TF's element placement (see `DeconvLayer`). The transposed conv is the stage `deconv`.
    """

    deconv: DeconvLayer

    def __init__(
        self,
        n_output_chns: int,
        kernel_size: IntOrSeq = 3,
        stride: IntOrSeq = 1,
        padding: str = "SAME",
        with_bias: bool = False,
        feature_normalization: str | None = "batch",
        group_size: int = -1,
        acti_func: str | None = None,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        b_initializer: InitSpec = None,
        b_regularizer: RegSpec = None,
        moving_decay: float = 0.9,
        eps: float = 1e-5,
        keep_prob: float | None = None,
        *,
        in_chns: int,
        spatial_dims: int,
    ) -> None:
        deconv = DeconvLayer(
            n_output_chns, kernel_size, stride, padding, with_bias,
            w_initializer, w_regularizer, b_initializer, b_regularizer,
            in_chns=in_chns, spatial_dims=spatial_dims,
        )  # fmt: skip
        stages = composite_stages(
            ("deconv", deconv), n_output_chns, feature_normalization,
            group_size, acti_func, w_regularizer, moving_decay, eps, keep_prob,
        )  # fmt: skip
        super().__init__(stages)
