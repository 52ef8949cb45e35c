"""graphnet: NiftyNet-style networks described as data, checked, drawn and compiled to PyTorch."""

from graphnet.errors import GraphError as GraphError
from graphnet.errors import GraphnetError as GraphnetError
from graphnet.errors import Issue as Issue

__all__ = ["GraphError", "GraphnetError", "Issue"]
__version__ = "0.1.0"
