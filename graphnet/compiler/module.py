"""The compiled model's class, its input check, and how node submodules are attached."""

from __future__ import annotations

import torch
from torch import fx

from graphnet.nn.init import regularization_loss


class CompiledGraph(fx.GraphModule):
    """A `GraphModule` with NiftyNet's regularisation total and an MC-dropout switch."""

    def regularization_loss(self) -> torch.Tensor:
        """Mean of all regularisation terms (NiftyNet's total); 0 when there are none."""
        return regularization_loss(self)

    def set_mc_dropout(self, enabled: bool = True) -> CompiledGraph:
        """Keep dropout active in eval mode (Monte-Carlo dropout)."""
        for module in self.modules():
            if hasattr(module, "mc_dropout"):
                setattr(module, "mc_dropout", enabled)  # noqa: B010 (typed as Module attr)
        return self


def check_input(x: torch.Tensor, name: str, channels: int, rank: int) -> torch.Tensor:
    """Raise a clear error for a wrong-rank or wrong-channel input."""
    if x.dim() != rank + 2 or x.shape[1] != channels:
        expected = ", ".join(["batch", str(channels), *(["size"] * rank)])
        raise ValueError(f"input '{name}' must have shape ({expected}); got {tuple(x.shape)}")
    return x


torch.fx.wrap("check_input")


def bind_submodules(model: torch.nn.Module) -> None:
    """Make `self.node` in the generated forward a plain attribute read.

    `nn.Module` keeps children in `_modules` and finds them through its Python `__getattr__`,
    which costs about a microsecond per node and call; `nn.Sequential` avoids it by iterating
    `_modules`. Binding each child of the model and of its plain containers in the instance
    `__dict__` as well makes the lookup a normal attribute hit. `nn.Module.__setattr__` removes
    such entries when a child is replaced, so the two views cannot drift apart.
    """
    containers = [model, *(m for m in model.modules() if type(m) is torch.nn.Module)]
    for container in containers:
        for name, child in container._modules.items():
            if child is not None:
                container.__dict__[name] = child


def set_submodule(root: torch.nn.Module, qualified: str, module: torch.nn.Module) -> None:
    *parents, leaf = qualified.split(".")
    current = root
    for part in parents:
        if not hasattr(current, part):
            current.add_module(part, torch.nn.Module())
        current = getattr(current, part)
    current.add_module(leaf, module)
