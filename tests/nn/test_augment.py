"""Augmentation layers against torch.flip/rot90 and float64 scipy references (reference §13).

Tolerances: float64 inputs agree with scipy to 1e-9 for every order in the interior (voxels
whose taps are all inside); float32 inputs to 2e-5 relative to the value range. Nearest
neighbour agrees exactly away from rounding ties.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import _ref_augment as ref
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from graphnet.nn.augment import RandomFlipLayer, RandomRotationLayer, RandomSpatialScalingLayer
from graphnet.nn.augment_base import RandomAugmentation
from graphnet.nn.augment_fuse import FusedSpatialAugmentation
from graphnet.nn.augment_resample import affine_grid

CPU = torch.device("cpu")


def _volume(shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).standard_normal(shape)).to(dtype)


def _twin_draw(make: Callable[[], RandomAugmentation], batch: int) -> torch.Tensor:
    """The parameters a seeded layer made by `make` draws on its first call."""
    return make().sample_parameters(batch, CPU)


# ---------------------------------------------------------------- flip


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_flip_probability_one_is_torch_flip_and_zero_is_identity(spatial_dims: int) -> None:
    shape = (2, 3, 5, 6, 7)[: spatial_dims + 2]
    image = _volume(shape, torch.float32)
    label = torch.arange(math.prod(shape)).reshape(shape)
    axes = [0, spatial_dims - 1]
    flip_all = RandomFlipLayer(axes, 1.0, spatial_dims=spatial_dims, n_inputs=2)
    flipped_image, flipped_label = flip_all(image, label)
    dims = sorted({a + 2 for a in axes})
    assert torch.equal(flipped_image, torch.flip(image, dims))
    assert torch.equal(flipped_label, torch.flip(label, dims))
    assert flipped_label.dtype == torch.int64
    flip_none = RandomFlipLayer(axes, 0.0, spatial_dims=spatial_dims, n_inputs=2)
    same_image, same_label = flip_none(image, label)
    assert torch.equal(same_image, image) and torch.equal(same_label, label)


def test_flip_draws_one_coin_per_sample_and_axis() -> None:
    x = _volume((16, 1, 3, 4, 5))
    flip = RandomFlipLayer([0, 2], 0.5, seed=7, spatial_dims=3)
    flags = _twin_draw(lambda: RandomFlipLayer([0, 2], 0.5, seed=7, spatial_dims=3), 16)
    (out,) = flip(x)
    assert flags.shape == (16, 3) and flags.dtype == torch.bool
    assert not flags[:, 1].any()  # axis 1 is not in flip_axes
    assert 0 < int(flags[:, 0].sum()) < 16
    for n in range(16):
        dims = [axis + 1 for axis in (0, 1, 2) if flags[n, axis]]
        assert torch.equal(out[n], torch.flip(x[n], dims))


# ---------------------------------------------------------------- rotation


@pytest.mark.parametrize(("axis", "plane"), [("x", (0, 1)), ("y", (2, 0)), ("z", (1, 2))])
@pytest.mark.parametrize("size", [6, 7])
def test_rotation_by_90_degrees_is_rot90_about_half_shape(
    axis: str, plane: tuple[int, int], size: int
) -> None:
    image = _volume((2, 2, size, size, size), torch.float32)
    label = torch.randint(
        0, 5, (2, 1, size, size, size), generator=torch.Generator().manual_seed(0)
    )
    rotate = RandomRotationLayer(
        **{f"rotation_angle_{axis}": (90.0, 90.0)}, interp_order=(0, 0), spatial_dims=3
    )
    for original, rotated in zip((image, label), rotate(image, label), strict=True):
        turned = torch.rot90(original, 1, dims=(plane[0] + 2, plane[1] + 2))
        # NiftyNet's centre 0.5 * shape is half a voxel past the array centre: one voxel shift.
        expected = torch.zeros_like(turned)
        expected.narrow(plane[0] + 2, 1, size - 1).copy_(turned.narrow(plane[0] + 2, 0, size - 1))
        assert torch.equal(rotated, expected)


def test_rotation_2d_single_angle_is_rot90() -> None:
    image = _volume((1, 1, 6, 6))
    (rotated,) = RandomRotationLayer(90.0, 90.0, interp_order=(0,), spatial_dims=2)(image)
    expected = torch.zeros_like(image)
    expected[:, :, 1:] = torch.rot90(image, 1, dims=(2, 3))[:, :, :-1]
    assert torch.equal(rotated, expected)


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("shape", [(12, 13, 14), (15, 16)])
def test_rotation_matches_scipy_affine_transform(order: int, shape: tuple[int, ...]) -> None:
    dims = len(shape)

    def make() -> RandomRotationLayer:
        return RandomRotationLayer(-40.0, 40.0, interp_order=(order,), seed=3, spatial_dims=dims)

    x = _volume((2, 2, *shape))
    (out,) = make()(x)
    angles = _twin_draw(make, 2).double().numpy()
    assert angles.shape == (2, 3 if dims == 3 else 1)
    assert np.all(np.abs(angles) <= math.radians(40.0))
    for n in range(2):
        for c in range(2):
            expected, sources = ref.rotate(x[n, c].numpy(), angles[n], order)
            mask = ref.interior(sources, shape, order)
            assert mask.sum() > 0.2 * mask.size
            np.testing.assert_allclose(out[n, c].numpy()[mask], expected[mask], atol=1e-9)


def test_rotation_float32_matches_scipy_within_stated_tolerance() -> None:
    def make() -> RandomRotationLayer:
        return RandomRotationLayer(interp_order=(3,), seed=11, spatial_dims=3)

    x = _volume((1, 1, 12, 12, 12), torch.float32)
    (out,) = make()(x)
    angles = _twin_draw(make, 1).double().numpy()[0]
    expected, sources = ref.rotate(x[0, 0].double().numpy(), angles, 3)
    mask = ref.interior(sources, (12, 12, 12), 3)
    span = float(x.max() - x.min())
    np.testing.assert_allclose(out[0, 0].numpy()[mask], expected[mask], atol=2e-5 * span)


def test_rotation_per_axis_ranges_draw_only_their_axis() -> None:
    layer = RandomRotationLayer(rotation_angle_y=(5.0, 20.0), spatial_dims=3)
    angles = layer.sample_parameters(64, CPU)
    assert torch.all(angles[:, [0, 2]] == 0)
    assert torch.all((angles[:, 1] >= math.radians(5.0)) & (angles[:, 1] <= math.radians(20.0)))
    assert layer.angle_ranges == ((0.0, 0.0), (5.0, 20.0), (0.0, 0.0))
    assert RandomRotationLayer(-3.0, 4.0, spatial_dims=2).angle_ranges == ((-3.0, 4.0),)


# ---------------------------------------------------------------- scaling


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize(("percentage", "grown"), [(25.0, 21), (-25.0, 13)])
@pytest.mark.parametrize("dims", [2, 3])
def test_scaling_is_a_centred_crop_or_pad_of_scipy_zoom(
    order: int, percentage: float, grown: int, dims: int
) -> None:
    # n = 17, z = 1.25 (or 0.75): scipy.zoom maps corners, (n - 1) z = grown - 1 exactly, and
    # the zoomed volume sits (grown - n) / 2 = +-2 voxels off graphnet's size-keeping one.
    shape = (17,) * dims
    x = _volume((1, 1, *shape))
    layer = RandomSpatialScalingLayer(
        percentage, percentage, antialiasing=False, interp_order=(order,), spatial_dims=dims
    )
    (out,) = layer(x)
    zoomed = ndi.zoom(x[0, 0].numpy(), 1.0 + percentage / 100.0, order=order, mode="constant")
    assert zoomed.shape == (grown,) * dims
    shift = (grown - 17) // 2
    index = np.indices(shape) + shift
    zooms = np.full(dims, 1.0 + percentage / 100.0)
    _, sources = ref.scale(x[0, 0].numpy(), zooms, order, antialiasing=False)
    mask = ref.interior(sources, shape, order) & np.all((index >= 0) & (index < grown), axis=0)
    expected = zoomed[tuple(np.clip(index, 0, grown - 1))]
    np.testing.assert_allclose(out[0, 0].numpy()[mask], expected[mask], atol=1e-9)


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize(("low", "high"), [(-20.0, 20.0), (-45.0, -5.0)])
def test_scaling_matches_scipy_with_niftynet_antialiasing(
    order: int, low: float, high: float
) -> None:
    def make() -> RandomSpatialScalingLayer:
        return RandomSpatialScalingLayer(low, high, interp_order=(order,), seed=5, spatial_dims=3)

    x = _volume((6, 1, 11, 12, 13))
    (out,) = make()(x)
    zooms = _twin_draw(make, 6).double().numpy()
    assert np.all((zooms >= 1 + low / 100) & (zooms <= 1 + high / 100))
    for n in range(6):
        # NiftyNet blurs order-0 images too; graphnet blurs only what it interpolates.
        antialias = order > 0
        expected, sources = ref.scale(x[n, 0].numpy(), zooms[n], order, antialias)
        mask = ref.interior(sources, (11, 12, 13), order)
        np.testing.assert_allclose(out[n, 0].numpy()[mask], expected[mask], atol=1e-9)


def test_scaling_antialiasing_blurs_only_samples_shrunk_on_every_axis() -> None:
    layer = RandomSpatialScalingLayer(-30.0, 10.0, seed=2, spatial_dims=3)
    zooms = layer.sample_parameters(32, CPU)
    shrunk = (zooms < 1).all(dim=1)
    assert 0 < int(shrunk.sum()) < 32
    x = _volume((32, 1, 9, 9, 9))
    blurred = layer.antialias(x, zooms, 1)
    changed = (blurred - x).flatten(1).abs().amax(dim=1) > 0
    assert torch.equal(changed, shrunk)
    assert layer.blur_radius == int(4 * math.sqrt(1 / 0.7**2 - 1) / 2.3548200450309493 + 0.5)


def test_isotropic_scaling_draws_one_zoom_per_sample() -> None:
    zooms = RandomSpatialScalingLayer(isotropic=True, spatial_dims=3).sample_parameters(8, CPU)
    assert zooms.shape == (8, 3)
    assert torch.all(zooms == zooms[:, :1]) and len(set(zooms[:, 0].tolist())) == 8
    anisotropic = RandomSpatialScalingLayer(spatial_dims=2).sample_parameters(8, CPU)
    assert torch.all((anisotropic >= 0.9) & (anisotropic <= 1.1))
    assert not torch.all(anisotropic == anisotropic[:, :1])


# ---------------------------------------------------------------- labels and shared draws


def _layers(orders: tuple[int, ...], seed: int | None = None) -> list[RandomAugmentation]:
    """Flip, scaling, rotation: NiftyNet's order (§13)."""
    return [
        RandomFlipLayer([0, 1, 2], seed=seed, spatial_dims=3, n_inputs=len(orders)),
        RandomSpatialScalingLayer(-20.0, 20.0, interp_order=orders, seed=seed, spatial_dims=3),
        RandomRotationLayer(-30.0, 30.0, interp_order=orders, seed=seed, spatial_dims=3),
    ]


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
@pytest.mark.parametrize("order", [0, 1, 3])
def test_labels_keep_dtype_and_values(dtype: torch.dtype, order: int) -> None:
    values = torch.tensor([0, 1] if dtype == torch.bool else [0, 3, 7])
    index = torch.randint(0, len(values), (3, 1, 10, 10, 10), generator=torch.Generator())
    label = values[index].to(dtype)
    for layer in [*_layers((order,)), FusedSpatialAugmentation(_layers((order,))[1:])]:
        (out,) = layer(label)
        assert out.dtype == dtype and out.shape == label.shape
        assert set(out.unique().tolist()) <= set(values.tolist())


def _blob(shape: tuple[int, ...], centre: tuple[float, ...]) -> torch.Tensor:
    """`exp(-r^2 / 32)` about `centre`: slopes below 0.16 per voxel, so a nearest-neighbour
    pick (at most half a voxel off on each axis) moves it by less than 0.14."""
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in shape], indexing="ij")
    squared = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True))
    return torch.exp(-torch.as_tensor(squared) / 32.0)[None]


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_one_draw_moves_image_and_label_together(index: int) -> None:
    shape = (14, 15, 16)
    image = torch.stack([_blob(shape, (5.0, 6.0, 9.0)), _blob(shape, (9.0, 5.0, 6.0))])
    label = (image > 0.5).long()
    layers = _layers((1, 0), seed=index)
    layer = layers[index] if index < 3 else FusedSpatialAugmentation(layers)
    twin = copy.deepcopy(layer)  # draws the same, to find the voxels read from inside
    moved_image, moved_label = layer(image, label)
    inside = twin(torch.ones_like(image), label)[0] > 1 - 1e-6
    assert not torch.equal(moved_label, label)
    # Away from the threshold and from the padded border, the label is the moved image's.
    clear = inside & ((moved_image - 0.5).abs() > 0.15)
    assert clear.float().mean() > 0.3
    assert 0.05 < moved_label[clear].float().mean() < 0.95  # both classes are checked
    assert torch.equal(moved_label[clear], (moved_image > 0.5).long()[clear])


# ---------------------------------------------------------------- modes and random streams


def test_eval_mode_returns_the_inputs_themselves() -> None:
    x, y = _volume((2, 1, 6, 6, 6)), torch.zeros(2, 1, 6, 6, 6, dtype=torch.long)
    for layer in [*_layers((1, 0)), FusedSpatialAugmentation(_layers((1, 0)))]:
        outputs = layer.eval()(x, y)
        assert outputs[0] is x and outputs[1] is y


def test_seeded_layers_are_reproducible_and_leave_the_global_stream_alone() -> None:
    x = _volume((3, 1, 8, 8, 8), torch.float32)
    for first, second, other in zip(
        _layers((1,), 4), _layers((1,), 4), _layers((1,), 5), strict=True
    ):
        torch.manual_seed(0)
        a = first(x)[0], second(x)[0]
        after = torch.rand(1)
        torch.manual_seed(0)
        assert torch.equal(torch.rand(1), after)  # seeded draws did not touch the global stream
        assert torch.equal(a[0], a[1]) and not torch.equal(a[0], other(x)[0])
        assert torch.equal(copy.deepcopy(first)(x)[0], first(x)[0])  # the stream is state


def test_global_stream_is_reproducible_with_manual_seed() -> None:
    x = _volume((3, 1, 8, 8, 8), torch.float32)
    for layer in _layers((1,)):
        torch.manual_seed(1)
        a = layer(x)[0]
        b = layer(x)[0]
        torch.manual_seed(1)
        assert torch.equal(layer(x)[0], a) and not torch.equal(a, b)


# ---------------------------------------------------------------- fusion


def _ramp(shape: tuple[int, ...]) -> torch.Tensor:
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in shape], indexing="ij")
    return (0.3 * grids[0] - 0.5 * grids[1] + 0.2 * grids[2] + 1.0)[None, None].repeat(
        3, 1, 1, 1, 1
    )


def test_fused_chain_equals_layers_one_by_one_where_linear_is_exact() -> None:
    # Linear interpolation reproduces a linear ramp exactly, so chaining interpolations and
    # interpolating once through the composed map agree wherever no step read the padding.
    x = _ramp((16, 16, 16))
    chain = [
        RandomFlipLayer([0, 1], seed=1, spatial_dims=3),
        RandomSpatialScalingLayer(-10.0, 10.0, seed=2, spatial_dims=3),
        RandomRotationLayer(-20.0, 20.0, seed=3, spatial_dims=3),
    ]
    fused = FusedSpatialAugmentation(copy.deepcopy(chain))
    twin = copy.deepcopy(chain)  # the same draws again, to find the voxels read from inside
    (one_pass,) = fused(x)
    (stepwise,) = chain[2](*chain[1](*chain[0](x)))
    valid = twin[2](*twin[1](*twin[0](torch.ones_like(x))))[0] > 1 - 1e-9
    assert valid.float().mean() > 0.3
    torch.testing.assert_close(one_pass[valid], stepwise[valid], rtol=0, atol=1e-9)


def test_fused_map_is_the_product_of_the_layer_maps() -> None:
    chain = [
        RandomSpatialScalingLayer(seed=2, spatial_dims=3),
        RandomRotationLayer(seed=3, spatial_dims=3),
    ]
    fused = FusedSpatialAugmentation(chain)
    params = [layer.sample_parameters(2, CPU).double() for layer in chain]
    linear, offset = fused.index_affine(params, (8, 9, 10))
    zooms, angles = params[0].numpy(), params[1].numpy()
    for n in range(2):
        centre_s, centre_r = (np.array([8, 9, 10]) - 1) / 2, 0.5 * np.array([8, 9, 10])
        scale = np.eye(4)
        scale[:3, :3] = np.diag(1 / zooms[n])
        scale[:3, 3] = centre_s - centre_s / zooms[n]
        turn = np.eye(4)
        turn[:3, :3] = ref.niftynet_rotation(angles[n]).T
        turn[:3, 3] = centre_r - turn[:3, :3] @ centre_r
        expected = scale @ turn  # output -> scaled volume -> input
        np.testing.assert_allclose(linear[n].numpy(), expected[:3, :3], atol=1e-12)
        np.testing.assert_allclose(offset[n].numpy(), expected[:3, 3], atol=1e-12)


def test_fusion_rejects_chains_it_cannot_reproduce() -> None:
    scale = RandomSpatialScalingLayer(spatial_dims=3)
    rotate = RandomRotationLayer(spatial_dims=3)
    with pytest.raises(ValueError) as error:
        FusedSpatialAugmentation([rotate, scale])
    assert str(error.value) == (
        "an antialiasing RandomSpatialScalingLayer can only be fused as the first rotation or "
        "scaling of the chain. Received: it is resampling step 2"
    )
    with pytest.raises(ValueError) as error:
        FusedSpatialAugmentation([scale, RandomRotationLayer(interp_order=(3,), spatial_dims=3)])
    assert str(error.value) == (
        "fused layers must share interp_order. Received: interp_order=[(1,), (3,)]"
    )
    with pytest.raises(ValueError) as error:
        FusedSpatialAugmentation([RandomFlipLayer([0], spatial_dims=3)])
    assert str(error.value) == "fusion needs a rotation or scaling layer. Received: flips only"


@pytest.mark.parametrize("shape", [(5, 6, 7), (8, 9), (1, 4, 3)])
def test_broadcast_grid_equals_torch_affine_grid(shape: tuple[int, ...]) -> None:
    theta = torch.randn(3, len(shape), len(shape) + 1, dtype=torch.float64)
    expected = torch.nn.functional.affine_grid(theta, [3, 1, *shape], align_corners=False)
    torch.testing.assert_close(affine_grid(theta, shape), expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- torch integration


class _Leaves(torch.fx.Tracer):
    def is_leaf_module(self, module: torch.nn.Module, qualified_name: str) -> bool:
        return isinstance(module, RandomAugmentation | FusedSpatialAugmentation) or (
            super().is_leaf_module(module, qualified_name)
        )


class _Graph(torch.nn.Module):
    """image, label -> flip -> fused scaling + rotation -> (2 image, label)."""

    def __init__(self) -> None:
        super().__init__()
        layers = _layers((3, 0))
        self.flip = layers[0]
        self.warp = FusedSpatialAugmentation(layers[1:])

    def forward(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, ...]:
        flipped = self.flip(image, label)  # indexed, as the compiler's generated code does
        warped = self.warp(flipped[0], flipped[1])
        return warped[0] * 2.0, warped[1]


def test_fx_leaf_and_export_run_the_same_draws() -> None:
    model = _Graph()
    x, y = _volume((2, 1, 6, 6, 6), torch.float32), torch.zeros(2, 1, 6, 6, 6, dtype=torch.long)
    traced = torch.fx.GraphModule(model, _Leaves().trace(model))
    assert [n.target for n in traced.graph.nodes if n.op == "call_module"] == ["flip", "warp"]
    exported = torch.export.export(model, (x, y)).module()
    torch.manual_seed(0)
    expected = model(x, y)
    for run in (traced, exported):
        torch.manual_seed(0)
        for got, want in zip(run(x, y), expected, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [None, 3])
def test_forward_creates_tensors_only_on_the_input_device(seed: int | None) -> None:
    # A CPU tensor meeting the meta inputs would raise; without a GPU, meta stands in for one.
    image = torch.empty(2, 1, 8, 9, 10, device="meta")
    label = torch.empty(2, 1, 8, 9, 10, device="meta", dtype=torch.long)
    layers = _layers((3, 0), seed)
    for layer in [*layers, FusedSpatialAugmentation(layers)]:
        out = layer(image, label)
        assert [(o.device.type, o.shape, o.dtype) for o in out] == [
            ("meta", image.shape, torch.float32),
            ("meta", label.shape, torch.int64),
        ]


def test_autocast_keeps_full_precision_and_state_dict_is_empty() -> None:
    x = _volume((2, 1, 8, 8, 8), torch.float32)
    layer = RandomRotationLayer(interp_order=(3,), spatial_dims=3)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (mixed,) = layer(x)
    torch.manual_seed(0)
    (full,) = layer(x)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, full)
    assert layer.state_dict() == {}
    layer.load_state_dict({})


# ---------------------------------------------------------------- argument and input errors


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: RandomRotationLayer(spatial_dims=4),
            "spatial_dims must be 2 or 3. Received: spatial_dims=4",
        ),
        (
            lambda: RandomFlipLayer([0], spatial_dims=0),
            "spatial_dims must be 1 or 2 or 3. Received: spatial_dims=0",
        ),
        (
            lambda: RandomRotationLayer(interp_order=(1, 2), spatial_dims=3),
            "interp_order entries must be 0 (nearest), 1 (linear) or 3 (cubic B-spline). "
            "Received: interp_order=(1, 2)",
        ),
        (
            lambda: RandomSpatialScalingLayer(interp_order=1, spatial_dims=3),  # type: ignore[arg-type]
            "interp_order must be a sequence with one order per input. Received: interp_order=1",
        ),
        (
            lambda: RandomSpatialScalingLayer(interp_order=(), spatial_dims=3),
            "interp_order needs one order per input. Received: interp_order=()",
        ),
        (
            lambda: RandomFlipLayer([0, 3], spatial_dims=3),
            "flip_axes entries must be spatial axes 0..2. Received: flip_axes=[0, 3]",
        ),
        (
            lambda: RandomFlipLayer([0], 1.5, spatial_dims=3),
            "flip_probability must be in [0, 1]. Received: flip_probability=1.5",
        ),
        (
            lambda: RandomFlipLayer([0], spatial_dims=3, n_inputs=0),
            "n_inputs must be a positive integer. Received: n_inputs=0",
        ),
        (
            lambda: RandomRotationLayer(10.0, -10.0, spatial_dims=3),
            "min_angle must not exceed max_angle. Received: min_angle=10.0, max_angle=-10.0",
        ),
        (
            lambda: RandomRotationLayer(rotation_angle_x=(5.0,), spatial_dims=3),
            "rotation_angle_x must be a (low, high) range with low <= high. "
            "Received: rotation_angle_x=(5.0,)",
        ),
        (
            lambda: RandomRotationLayer(rotation_angle_z=(0.0, 5.0), spatial_dims=2),
            "a 2D rotation has one angle (min_angle/max_angle or rotation_angle_x). "
            "Received: rotation_angle_z=(0.0, 5.0)",
        ),
        (
            lambda: RandomSpatialScalingLayer(10.0, -10.0, spatial_dims=3),
            "min_percentage must not exceed max_percentage. "
            "Received: min_percentage=10.0, max_percentage=-10.0",
        ),
        (
            lambda: RandomRotationLayer(seed=-1, spatial_dims=3),
            "seed must be a non-negative integer or None. Received: seed=-1",
        ),
    ],
)
def test_constructor_errors(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


def test_forward_errors_name_the_inputs() -> None:
    layer = RandomRotationLayer(interp_order=(1, 0), spatial_dims=3)
    x = torch.zeros(2, 1, 4, 4, 4)
    cases = [
        ((x,), "RandomRotationLayer takes 2 tensors, one per input port. Received: 1 tensors"),
        (
            (x, torch.zeros(2, 1, 4, 4)),
            "RandomRotationLayer with spatial_dims=3 takes tensors (N, C, X, Y, Z). "
            "Received: shapes=[(2, 1, 4, 4, 4), (2, 1, 4, 4)]",
        ),
        (
            (x, torch.zeros(3, 1, 4, 4, 4)),
            "RandomRotationLayer inputs must share the batch size. "
            "Received: shapes=[(2, 1, 4, 4, 4), (3, 1, 4, 4, 4)]",
        ),
    ]
    for tensors, message in cases:
        with pytest.raises(ValueError) as error:
            layer(*tensors)
        assert str(error.value) == message
