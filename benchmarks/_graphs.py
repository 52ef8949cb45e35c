"""Generated graph documents for the front-end benchmarks."""

from __future__ import annotations


def chain_document(n_nodes: int, *, spatial_dims: int = 3) -> str:
    """A YAML graph of `n_nodes` layers: repeating conv -> acti -> residual sum units."""
    lines = [
        "graphnet: 1",
        f"name: chain{n_nodes}",
        "inputs:",
        f"  image: {{channels: 4, spatial_dims: {spatial_dims}}}",
        "nodes:",
    ]
    previous = "image"
    for i in range(n_nodes):
        kind = i % 3
        if kind == 0:
            node = (
                f"{{type: ConvolutionLayer, inputs: {previous}, n_output_chns: 4, "
                "kernel_size: 3, acti_func: relu}"
            )
            anchor = previous
        elif kind == 1:
            node = f"{{type: ActiLayer, func: prelu, inputs: {previous}}}"
        else:
            node = f"{{type: ElementwiseLayer, func: SUM, inputs: [{previous}, {anchor}]}}"
        lines.append(f"  n{i}: {node}")
        previous = f"n{i}"
    lines += ["outputs:", f"  y: {previous}"]
    return "\n".join(lines) + "\n"
