"""CRFAsRNNLayer and the permutohedral lattice against float64 NumPy references (reference §14).

Measured lattice approximation error (positions with unit-variance Gaussian, seeds 0-2):

- normalised filter `n K(n v)`, `n = 1/sqrt(K 1)`, as the CRF uses it: relative Frobenius error
  0.020-0.021 on 2x8x8x8 with 1 feature (d = 4), 0.037 on 2x16x16 with 3 features (d = 5);
- raw filter: the lattice's total weight is 0.72 (d = 4) / 0.56 (d = 5) of the Gaussian's;
  after that one scale factor the relative error is 0.036-0.037 / 0.068-0.073;
- impulse response: standard deviation 0.984-1.007 for d = 2..5 (the Gaussian's is 1);
- CRF output (T=5, alpha=2, beta=0.5, gamma=3): max |logits - dense| 0.027-0.033 (3D, 8^3) and
  0.042-0.046 (2D, 16^2), where the CRF moves the logits by about 1.

Bounds below are those figures with about 40% headroom.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from _ref_crf import dense_crf, dense_gaussian, elevate, grid
from torch import Tensor, nn

import graphnet as gn
import graphnet.nn.crf as crf_module
from graphnet.nn.crf import CRFAsRNNLayer
from graphnet.nn.permutohedral import PermutohedralLattice, permutohedral_filter

CRF_ARGS = {"alpha": 2.0, "beta": 0.5, "gamma": 3.0, "T": 5}


def _positions(spatial: tuple[int, ...], spacing: float, n_features: int, seed: int) -> np.ndarray:
    """`(2, d, *spatial)`: grid * spacing and uniform [0, 2) features."""
    rng = np.random.default_rng(seed)
    points = np.broadcast_to(grid(spatial, [spacing] * len(spatial)), (2, len(spatial), *spatial))
    return np.concatenate([points, rng.uniform(0.0, 2.0, (2, n_features, *spatial))], axis=1)


def _filter(lattice: PermutohedralLattice, values: np.ndarray) -> np.ndarray:
    return lattice.filter(torch.from_numpy(values)).numpy()


def _relative(error: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(error) / np.linalg.norm(reference))


# -- lattice -----------------------------------------------------------------------------------

LATTICE_CASES = [
    # spatial, spacing, features, normalised bound, raw scale range, raw bound after scaling
    ((8, 8, 8), 0.5, 1, 0.03, (0.70, 0.73), 0.05),
    ((16, 16), 1 / 3, 3, 0.05, (0.54, 0.58), 0.10),
]


@pytest.mark.parametrize(("spatial", "spacing", "feats", "bound", "scale", "raw"), LATTICE_CASES)
def test_lattice_matches_dense_gaussian(
    spatial: tuple[int, ...],
    spacing: float,
    feats: int,
    bound: float,
    scale: tuple[float, float],
    raw: float,
) -> None:
    positions = _positions(spatial, spacing, feats, seed=0)
    values = np.random.default_rng(1).uniform(0.0, 1.0, (2, 3, *spatial))
    lattice = PermutohedralLattice(torch.from_numpy(positions))
    ones = np.ones((2, 1, *spatial))
    norm_lat = 1.0 / np.sqrt(_filter(lattice, ones))
    norm_ref = 1.0 / np.sqrt(dense_gaussian(ones, positions))
    smoothed = norm_lat * _filter(lattice, values * norm_lat)
    expected = norm_ref * dense_gaussian(values * norm_ref, positions)
    assert _relative(smoothed - expected, expected) < bound

    filtered, exact = _filter(lattice, values), dense_gaussian(values, positions)
    ratio = filtered.sum() / exact.sum()
    assert scale[0] < ratio < scale[1]
    assert _relative(filtered / ratio - exact, exact) < raw


@pytest.mark.parametrize("extra_dims", [0, 1, 3])
def test_lattice_impulse_response_has_unit_std(extra_dims: int) -> None:
    n, spacing = 31, 0.25
    points = grid((n, n), (spacing, spacing))[None]
    positions = np.concatenate([points, np.zeros((1, extra_dims, n, n))], axis=1)
    impulse = np.zeros((1, 1, n, n))
    impulse[0, 0, n // 2, n // 2] = 1.0
    response = _filter(PermutohedralLattice(torch.from_numpy(positions)), impulse)[0, 0]
    squared = ((points[0] - points[0][:, n // 2, n // 2, None, None]) ** 2).sum(0)
    variance_per_axis = (response * squared).sum() / response.sum() / 2
    assert abs(np.sqrt(variance_per_axis) - 1.0) < 0.03


def test_lattice_simplex_vertices_interpolate_the_elevated_point() -> None:
    positions = _positions((5, 6), 0.7, 2, seed=3)
    lattice = PermutohedralLattice(torch.from_numpy(positions))
    d = positions.shape[1]
    batch, coords = (t.numpy() for t in lattice.lattice_points())
    weights, vertices = lattice.barycentric.numpy(), lattice.vertex_index.numpy()
    assert weights.shape == vertices.shape == (d + 1, 60)
    assert coords.shape == (lattice.n_lattice, d + 1)
    assert (weights >= -1e-12).all()
    np.testing.assert_allclose(weights.sum(0), 1.0, atol=1e-12)
    # Lattice points: coordinates sum to 0 and share one remainder mod d+1 (= the vertex number).
    assert (coords.sum(1) == 0).all()
    for r in range(d + 1):
        assert (coords[vertices[r]] % (d + 1) == r).all()
    points = positions.reshape(2, d, -1).transpose(0, 2, 1).reshape(-1, d)
    interpolated = np.einsum("rp,rpk->pk", weights, coords[vertices].astype(np.float64))
    np.testing.assert_allclose(interpolated, elevate(points), atol=1e-9)
    np.testing.assert_array_equal(batch[vertices], np.repeat([[0, 1]], 30, axis=1).repeat(d + 1, 0))


def test_lattice_blur_neighbours_are_the_adjacent_points() -> None:
    lattice = PermutohedralLattice(torch.from_numpy(_positions((6, 6), 0.5, 1, seed=4)))
    batch, coords = (t.numpy() for t in lattice.lattice_points())
    d, n = coords.shape[1] - 1, lattice.n_lattice
    where = {(int(b), *map(int, c)): i for i, (b, c) in enumerate(zip(batch, coords, strict=True))}
    neighbours = lattice.blur_index.numpy()
    assert neighbours.shape == (d + 1, 2, n + 1)
    assert (neighbours[:, :, n] == n).all()
    found = 0
    for j in range(d + 1):
        offset = np.full(d + 1, -1)
        offset[j] = d
        for side, sign in enumerate((1, -1)):
            for i in range(n):
                key = (int(batch[i]), *map(int, coords[i] + sign * offset))
                assert neighbours[j, side, i] == where.get(key, n)
                found += key in where
    assert found > n  # most points have neighbours: the lookup is exercised


def test_lattice_batches_never_mix() -> None:
    positions = torch.from_numpy(_positions((6, 7), 0.5, 1, seed=5))
    values = torch.from_numpy(np.random.default_rng(6).uniform(size=(2, 2, 6, 7)))
    together = permutohedral_filter(values, positions)
    for b in range(2):
        alone = permutohedral_filter(values[b : b + 1], positions[b : b + 1])
        torch.testing.assert_close(together[b : b + 1], alone, rtol=1e-12, atol=1e-12)


def test_lattice_key_overflow_is_an_error() -> None:
    positions = torch.zeros(1, 8, 2)
    positions[0, :, 1] = 1e6  # 9 coordinates spanning 1e6 cells each: ~180 bits
    with pytest.raises(RuntimeError, match="permutohedral lattice keys do not fit in int64"):
        PermutohedralLattice(positions)


def test_lattice_shape_errors() -> None:
    with pytest.raises(ValueError) as error:
        PermutohedralLattice(torch.zeros(3, 4))
    assert str(error.value) == (
        "positions must have shape (B, d, *spatial). Received: positions.shape=(3, 4)"
    )
    lattice = PermutohedralLattice(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError) as error:
        lattice.filter(torch.zeros(2, 1, 4, 5))
    assert str(error.value) == (
        "values must have the positions' batch and spatial sizes. "
        "Received: values.shape=(2, 1, 4, 5), positions.shape=(2, 3, 4, 4)"
    )


def test_lattice_gradient_is_the_transposed_filter() -> None:
    positions = torch.from_numpy(_positions((4, 4), 0.6, 1, seed=7))[:1]
    lattice = PermutohedralLattice(positions)
    # The filter as a 16 x 16 matrix: column j is the response to a unit value at point j.
    matrix = lattice.filter(torch.eye(16, dtype=torch.float64).reshape(1, 16, 4, 4))
    matrix = matrix.reshape(16, 16).T
    values = torch.rand(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(16, dtype=torch.float64)
    (lattice.filter(values).reshape(16) * weights).sum().backward()
    assert values.grad is not None
    torch.testing.assert_close(values.grad.reshape(16), matrix.T @ weights)


# -- CRF ---------------------------------------------------------------------------------------


def _inputs(spatial: tuple[int, ...], n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (2, n_features, *spatial)), rng.normal(0, 2, (2, 3, *spatial))


def _run(layer: CRFAsRNNLayer, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return layer.double()(torch.from_numpy(features), torch.from_numpy(logits)).numpy()


@pytest.mark.parametrize(("spatial", "bound"), [((8, 8, 8), 0.045), ((16, 16), 0.065)])
def test_crf_matches_dense_mean_field(spatial: tuple[int, ...], bound: float) -> None:
    features, logits = _inputs(spatial, 1, seed=0)
    layer = CRFAsRNNLayer(**CRF_ARGS, n_classes=3, spatial_dims=len(spatial))
    out = _run(layer, features, logits)
    eye, ones = np.eye(3), np.ones(3)
    expected = dense_crf(
        features, logits, **CRF_ARGS, spacing=[1.0] * len(spatial), mu=-eye, w_bil=ones, w_sp=ones
    )
    assert out.shape == logits.shape
    assert np.abs(out - expected).max() < bound
    assert np.abs(expected - logits).max() > 0.5  # the CRF does change the logits


class _DenseLattice:
    """Drop-in for PermutohedralLattice with the exact Gaussian (brute force, float64)."""

    def __init__(self, positions: Tensor) -> None:
        flat = positions.flatten(2).transpose(1, 2)
        self.kernel = torch.exp(-0.5 * torch.cdist(flat, flat) ** 2)

    def filter(self, values: Tensor) -> Tensor:
        out = values.flatten(2) @ self.kernel.transpose(1, 2)
        return out.reshape(values.shape)


def test_crf_mean_field_is_exact_with_an_exact_bilateral_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Everything but the lattice (spatial kernel, norms, weights, mu, steps) to 1e-10."""
    monkeypatch.setattr(crf_module, "PermutohedralLattice", _DenseLattice)
    features, logits = _inputs((5, 4, 3), 2, seed=1)
    mu = np.random.default_rng(2).normal(size=(3, 3)).astype(np.float32)
    # Parameters are stored in float32 before `.double()`: round the reference's the same way.
    w_bil, w_sp = np.float32([0.5, 1.0, 2.0]), np.float32([1.5, 0.2, 1.0])
    args = {"alpha": 3.0, "beta": 0.7, "gamma": 2.0, "T": 3}
    layer = CRFAsRNNLayer(
        **args,
        aspect_ratio=[1.0, 2.0, 0.5],
        mu_init=mu.tolist(),
        w_init=[w_bil, w_sp],
        n_classes=3,
        spatial_dims=3,
    )
    expected = dense_crf(
        features,
        logits,
        **args,
        spacing=[1.0, 2.0, 0.5],
        mu=mu,
        w_bil=w_bil,
        w_sp=w_sp,
    )
    np.testing.assert_allclose(_run(layer, features, logits), expected, rtol=0, atol=1e-10)


def test_parameters_initialise_like_niftynet() -> None:
    layer = CRFAsRNNLayer(n_classes=4, spatial_dims=3)
    assert torch.equal(layer.mu.data, -torch.eye(4))
    assert torch.equal(layer.w_bil.data, torch.ones(4))
    assert torch.equal(layer.w_sp.data, torch.ones(4))
    assert sorted(name for name, _ in layer.named_parameters()) == ["mu", "w_bil", "w_sp"]


@pytest.mark.parametrize("mu_init", [np.eye(3).tolist(), np.eye(3).reshape(-1).tolist()])
def test_mu_init_overrides(mu_init: list[float] | list[list[float]]) -> None:
    layer = CRFAsRNNLayer(
        mu_init=mu_init, w_init=[[1, 2, 3], [4, 5, 6]], n_classes=3, spatial_dims=2
    )
    assert torch.equal(layer.mu.data, torch.eye(3))
    assert torch.equal(layer.w_bil.data, torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(layer.w_sp.data, torch.tensor([4.0, 5.0, 6.0]))


def test_one_sgd_step_changes_every_parameter() -> None:
    torch.manual_seed(0)
    layer = CRFAsRNNLayer(T=2, n_classes=2, spatial_dims=2)
    before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    optimiser = torch.optim.SGD(layer.parameters(), lr=0.5)
    out = layer(torch.rand(2, 1, 6, 6), torch.randn(2, 2, 6, 6))
    nn.functional.cross_entropy(out, torch.randint(0, 2, (2, 6, 6))).backward()
    optimiser.step()
    for name, p in layer.named_parameters():
        assert not torch.equal(p.detach(), before[name]), name


def test_batch_elements_are_independent() -> None:
    torch.manual_seed(0)
    layer = CRFAsRNNLayer(n_classes=3, spatial_dims=3)
    features, logits = torch.rand(2, 1, 6, 6, 6), torch.randn(2, 3, 6, 6, 6)
    out = layer(features, logits)
    features[1], logits[1] = 50 * torch.rand(1, 6, 6, 6), torch.randn(3, 6, 6, 6)
    changed = layer(features, logits)
    torch.testing.assert_close(changed[0], out[0])
    assert not torch.allclose(changed[1], out[1])
    torch.testing.assert_close(layer(features[:1], logits[:1])[0], out[0])


def test_gradients_are_finite() -> None:
    torch.manual_seed(0)
    layer = CRFAsRNNLayer(T=3, n_classes=3, spatial_dims=3)
    logits = torch.randn(2, 3, 5, 5, 5, requires_grad=True)
    features = torch.rand(2, 2, 5, 5, 5, requires_grad=True)
    (layer(features, logits) ** 2).mean().backward()
    grads = [logits.grad, layer.mu.grad, layer.w_bil.grad, layer.w_sp.grad]
    for grad in grads:
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert features.grad is None  # features only place points in the lattice (as in NiftyNet)


@pytest.mark.parametrize(
    ("spatial", "n_features"),
    [((9,), 1), ((7, 6), 0), ((7, 6), 3), ((4, 5, 6), 1), ((3, 3, 2, 2), 1)],
)
def test_shapes_any_rank(spatial: tuple[int, ...], n_features: int) -> None:
    layer = CRFAsRNNLayer(T=2, n_classes=4, spatial_dims=len(spatial))
    out = layer(torch.rand(2, n_features, *spatial), torch.randn(2, 4, *spatial))
    assert out.shape == (2, 4, *spatial)
    assert out.dtype == torch.float32


def test_aspect_ratio_expands_like_niftynet() -> None:
    assert CRFAsRNNLayer(aspect_ratio=2, n_classes=2, spatial_dims=3).aspect_ratio == (2.0,) * 3
    long = CRFAsRNNLayer(aspect_ratio=[1, 2, 3], n_classes=2, spatial_dims=2)
    assert long.aspect_ratio == (1.0, 2.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0}, "alpha must be a positive number. Received: alpha=0"),
        ({"gamma": -1.0}, "gamma must be a positive number. Received: gamma=-1.0"),
        ({"beta": float("inf")}, "beta must be finite. Received: beta=inf"),
        ({"T": 0}, "T must be a positive integer. Received: T=0"),
        ({"n_classes": 0}, "n_classes must be a positive integer. Received: n_classes=0"),
        (
            {"aspect_ratio": [1.0]},
            "aspect_ratio needs one spacing per spatial dim (2). Received: aspect_ratio=[1.0]",
        ),
        (
            {"aspect_ratio": [1.0, 0.0]},
            "aspect_ratio must be a positive number. Received: aspect_ratio=0.0",
        ),
        (
            {"mu_init": [1.0, 2.0]},
            "mu_init must hold n_classes**2 = 9 values ([3, 3] or flat). "
            "Received: mu_init with shape (2,)",
        ),
        (
            {"w_init": [[1, 1, 1]]},
            "w_init must be [w_bil, w_sp] with 3 values each. Received: w_init with sizes [3]",
        ),
    ],
)
def test_constructor_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"n_classes": 3, "spatial_dims": 2, **kwargs}
    with pytest.raises(ValueError) as error:
        CRFAsRNNLayer(**arguments)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_forward_shape_errors() -> None:
    layer = CRFAsRNNLayer(n_classes=3, spatial_dims=2)
    with pytest.raises(ValueError) as error:
        layer(torch.rand(1, 1, 4, 4), torch.rand(1, 2, 4, 4))
    assert str(error.value) == (
        "logits must have shape (B, 3, *spatial) with 2 spatial dims. "
        "Received: logits.shape=(1, 2, 4, 4)"
    )
    with pytest.raises(ValueError) as error:
        layer(torch.rand(1, 1, 4, 5), torch.rand(1, 3, 4, 4))
    assert str(error.value) == (
        "features must have the logits' batch and spatial sizes. "
        "Received: features.shape=(1, 1, 4, 5), logits.shape=(1, 3, 4, 4)"
    )


def test_state_dict_round_trip() -> None:
    source = CRFAsRNNLayer(mu_init=np.arange(9.0).tolist(), n_classes=3, spatial_dims=2)
    target = CRFAsRNNLayer(n_classes=3, spatial_dims=2)
    target.load_state_dict(source.state_dict())
    features, logits = torch.rand(1, 1, 5, 5), torch.randn(1, 3, 5, 5)
    torch.testing.assert_close(target(features, logits), source(features, logits))


class _Refine(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.crf = CRFAsRNNLayer(T=2, n_classes=2, spatial_dims=2)

    def forward(self, image: Tensor, logits: Tensor) -> Tensor:
        return self.crf(image, logits)


class _LeafTracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, CRFAsRNNLayer) or super().is_leaf_module(m, qualname)


def test_works_as_an_fx_leaf_and_under_export() -> None:
    model = _Refine()
    traced = torch.fx.GraphModule(model, _LeafTracer().trace(model))
    image, logits = torch.rand(1, 1, 6, 6), torch.randn(1, 2, 6, 6)
    torch.testing.assert_close(traced(image, logits), model(image, logits))
    exported = torch.export.export(model, (image, logits)).module()
    # Other values give another number of lattice points: the size stays data dependent.
    other = 20 * torch.rand(1, 1, 6, 6)
    torch.testing.assert_close(exported(other, logits), model(other, logits))


def test_autocast_keeps_the_logits_dtype_and_precision() -> None:
    torch.manual_seed(0)
    layer = CRFAsRNNLayer(T=2, n_classes=3, spatial_dims=2)
    features, logits = torch.rand(1, 1, 8, 8), torch.randn(1, 3, 8, 8).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(features, logits)
    assert out.dtype == torch.bfloat16
    expected = layer(features, logits.float()).bfloat16()
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_docs_worked_example_compiles_and_trains() -> None:
    doc = pathlib.Path(__file__).parents[2] / "docs" / "crf.md"
    text = doc.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    model = gn.compile(gn.loads(text, name="crf.md"))
    out = model(torch.randn(2, 1, 8, 8, 4), torch.randint(0, 3, (2, 1, 8, 8, 4)))
    assert out["refined"].shape == (2, 3, 8, 8, 4)
    out["loss"].backward()
    assert model.crf.mu.grad is not None and model.crf.mu.grad.abs().sum() > 0
