"""`graphnet.nn.LossFunction` at the numeric edges: finite losses and gradients at extreme
logits and empty classes, float64 gradcheck, and autocast reducing in float32."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from graphnet.nn.loss import SEGMENTATION_LOSSES, LossFunction
from graphnet.spec.loss_names import LOSS_TYPES, WEIGHT_MAP_USE

try:
    from ._loss_cases import inputs_for
except ImportError:  # tests/nn is not a package: pytest put this folder on sys.path
    from _loss_cases import inputs_for  # type: ignore[no-redef]


def _extreme_cases() -> dict[str, tuple[Tensor, Tensor]]:
    labels = torch.randint(0, 3, (2, 1, 4, 4), generator=torch.Generator().manual_seed(30))
    one_hot = torch.eye(3)[labels[:, 0]].movedim(-1, 1)
    background = torch.zeros_like(labels)
    empty_fg = torch.eye(3)[background[:, 0]].movedim(-1, 1)
    return {
        "perfect_1e4": (2e4 * one_hot - 1e4, labels),
        "wrong_1e4": (1e4 - 2e4 * one_hot, labels),
        "all_background_perfect": (2e4 * empty_fg - 1e4, background),
        "all_background_wrong": (1e4 - 2e4 * empty_fg, background),
        "empty_foreground_zero_logits": (torch.zeros(2, 3, 4, 4), background),
    }


@pytest.mark.parametrize("loss_type", SEGMENTATION_LOSSES)
@pytest.mark.parametrize("case", list(_extreme_cases()))
def test_finite_loss_and_gradient_at_extremes(loss_type: str, case: str) -> None:
    logits, labels = _extreme_cases()[case]
    logits = logits.clone().requires_grad_()
    pred, truth = inputs_for(loss_type, logits, labels)
    weight = torch.rand(2, 1, 4, 4) if WEIGHT_MAP_USE[loss_type] == "weighted" else None
    loss = LossFunction(3, loss_type)(pred, truth, weight)
    loss.backward()
    assert torch.isfinite(loss)
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_perfect_all_background_wgdl_is_zero_not_nan() -> None:
    logits, labels = _extreme_cases()["all_background_perfect"]
    assert LossFunction(3, "WGDL")(logits, labels).item() == 0.0  # NiftyNet: 0/0 = NaN


@pytest.mark.parametrize("loss_type", ["Dice", "GDSC", "Tversky", "CrossEntropy", "VolEnforcement"])
def test_all_zero_weight_map_is_finite(loss_type: str) -> None:
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    labels = torch.randint(0, 3, (2, 1, 4, 4))
    loss = LossFunction(3, loss_type)(logits, labels, torch.zeros(2, 1, 4, 4))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()  # type: ignore[arg-type]


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradcheck_float64(loss_type: str) -> None:
    gen = torch.Generator().manual_seed(31)
    logits = torch.randn(2, 3, 3, 2, dtype=torch.float64, generator=gen).requires_grad_()
    labels = torch.randint(0, 3, (2, 1, 3, 2), generator=gen)
    labels[0, 0, 0, 0], labels[0, 0, 0, 1], labels[0, 0, 1, 0] = 0, 1, 2  # all classes present
    weight = None
    if WEIGHT_MAP_USE[loss_type] == "weighted":
        weight = torch.rand(2, 1, 3, 2, dtype=torch.float64, generator=gen) + 0.5
    _, truth = inputs_for(loss_type, logits, labels)
    module = LossFunction(3, loss_type)
    assert torch.autograd.gradcheck(lambda x: module(x, truth, weight), (logits,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_autocast_reduces_in_float32(loss_type: str, dtype: torch.dtype) -> None:
    logits = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(32)) * 3
    labels = torch.randint(0, 3, (2, 1, 6, 6), generator=torch.Generator().manual_seed(33))
    module = LossFunction(3, loss_type)
    half = logits.to(dtype).requires_grad_()
    pred, truth = inputs_for(loss_type, half, labels)
    fed = truth.to(dtype) if truth.dtype == torch.float32 else truth
    with torch.autocast("cpu", dtype=dtype):
        loss = module(pred, fed)
    loss.backward()
    assert loss.dtype == torch.float32
    assert half.grad is not None and half.grad.dtype == dtype and torch.isfinite(half.grad).all()
    # Everything after the upcast runs in float32: the same value as outside autocast ...
    same_inputs = module(pred.detach().float(), fed.float() if fed.is_floating_point() else fed)
    torch.testing.assert_close(loss, same_inputs, rtol=1e-6, atol=1e-6)
    # ... and close to the loss of the unrounded float32 logits.
    reference = module(*inputs_for(loss_type, logits, labels))
    torch.testing.assert_close(loss, reference, rtol=2e-2, atol=2e-2)
