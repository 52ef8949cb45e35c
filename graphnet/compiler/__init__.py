"""Graph -> torch.fx.Graph -> GraphModule.

The compiled model's generated `forward` checks each input's rank and channels, then calls one
submodule per node (named by node id, so `state_dict` keys read `stage1.0.a.conv.weight`) and
returns a tensor for one output or a dict for several::

    model = compile(graph)
    print(model.code)      # def forward(self, image): ...

`BUILDERS` (in `builders.py`) maps each spec class to a function building its torch module from
the spec and the inferred input shapes; a test proves it covers the layer registry exactly.
`export.py` writes compiled models as torch.export, ONNX or TorchScript files. This package and
`graphnet.nn` are the only parts of graphnet that import torch.
"""

from graphnet.compiler.build import compile as compile
from graphnet.compiler.builders import BUILDERS as BUILDERS
from graphnet.compiler.builders import BuildContext as BuildContext
from graphnet.compiler.module import CompiledGraph as CompiledGraph
from graphnet.compiler.module import check_input as check_input

__all__ = ["BUILDERS", "BuildContext", "CompiledGraph", "check_input", "compile"]
