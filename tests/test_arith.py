"""Integer shape arithmetic against brute-force re-derivations of the reference (§0.2, §3.1)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from graphnet.spec import arith

GRID = list(itertools.product(range(1, 14), range(1, 6), range(1, 4), range(1, 3)))  # n, k, s, d


def test_expand() -> None:
    assert arith.expand(3, 3) == (3, 3, 3)
    assert arith.expand(2.9, 2) == (2, 2)  # NiftyNet truncates floats
    assert arith.expand([3, 3, 1], 2) == (3, 3)  # only the first `rank` items are used
    assert arith.expand((4.7, 1), 2) == (4, 1)
    with pytest.raises(ValueError) as info:
        arith.expand([3, 3], 3)
    assert (
        str(info.value) == "expected 3 values (one per spatial axis), got 2. Received: value=[3, 3]"
    )


def test_check_padding() -> None:
    assert arith.check_padding("valid") == "VALID"
    with pytest.raises(ValueError) as info:
        arith.check_padding("reflect", arith.DECONV_PADDINGS)
    assert str(info.value) == "unknown padding 'reflect': valid padding values: SAME, VALID"
    with pytest.raises(ValueError) as info:
        arith.check_padding("SYMETRIC")
    assert str(info.value) == (
        "unknown padding 'SYMETRIC': did you mean 'SYMMETRIC'? "
        "valid padding values: CONSTANT, REFLECT, SAME, SYMMETRIC, VALID"
    )


def test_same_and_valid_follow_the_tf_table() -> None:
    for n, k, s, d in GRID:
        _check_tf_table(n, k, s, d)


def _check_tf_table(n: int, k: int, s: int, d: int) -> None:
    ke = (k - 1) * d + 1
    out = math.ceil(n / s)
    total = max((out - 1) * s + ke - n, 0)
    assert arith.conv_out(n, k, s, d, "SAME") == out
    for padding in ("REFLECT", "SYMMETRIC", "CONSTANT"):
        assert arith.conv_out(n, k, s, d, padding) == out
    assert arith.same_pads(n, k, s, d) == (total // 2, total - total // 2)
    valid = math.ceil((n - ke + 1) / s) if n >= ke else 0
    assert arith.conv_out(n, k, s, d, "VALID") == valid
    if n >= ke:
        assert valid == (n - ke) // s + 1
    if d == 1:
        assert arith.pool_out(n, k, s, "SAME") == out
        assert arith.pool_out(n, k, s, "VALID") == valid


def _niftynet_reads(n: int, k: int, s: int, d: int) -> list[list[int | None]]:
    """Input coordinates each output of NiftyNet's extended conv reads, step by step (§3.1):
    pad by p (labels stay input coordinates), SAME conv with zero pads (label None), slice."""
    out = math.ceil(n / s)
    p = ((out - 1) * s + (k - 1) * d + 2 - n) // 2
    padded: list[int | None] = list(range(-max(p, 0), n + max(p, 0)))
    m = len(padded)
    conv_out = math.ceil(m / s)
    total = max((conv_out - 1) * s + (k - 1) * d + 1 - m, 0)
    before = total // 2
    padded = [None] * before + padded + [None] * (total - before)
    offset = (conv_out - out) // 2
    return [[padded[(j + offset) * s + t * d] for t in range(k)] for j in range(out)]


def test_extended_pads_reads_what_niftynet_reads() -> None:
    for n, k, s, d in GRID:
        assert _folded_reads(n, k, s, d) == _niftynet_reads(n, k, s, d), (n, k, s, d)


def _folded_reads(n: int, k: int, s: int, d: int) -> list[list[int | None]]:
    """What each output reads under graphnet's folded plan: mode pad p, zero pad/crop, VALID."""
    p, before, after = arith.extended_pads(n, k, s, d)
    padded: list[int | None] = list(range(-p, n + p))
    if before < 0:
        padded = padded[-before:]
    if after < 0:
        padded = padded[: len(padded) + after]
    padded = [None] * max(before, 0) + padded + [None] * max(after, 0)
    out = math.ceil(n / s)
    assert (len(padded) - ((k - 1) * d + 1)) // s + 1 == out  # a VALID conv gives `out`
    return [[padded[j * s + t * d] for t in range(k)] for j in range(out)]


def test_extended_pads_stride1_centres_the_kernel() -> None:
    # Stride 1: context floor((ke-1)/2) before and the rest after (§3.1 closed form).
    for n, k, d in itertools.product(range(1, 10), range(1, 6), range(1, 3)):
        p, before, after = arith.extended_pads(n, k, 1, d)
        ke = (k - 1) * d + 1
        assert (p + before, p + after) == ((ke - 1) // 2, ke - 1 - (ke - 1) // 2)


@pytest.mark.parametrize(
    ("n", "k", "s", "padding", "out", "crop"),
    [
        (16, 3, 2, "SAME", 32, 0),
        (16, 2, 2, "SAME", 32, 0),
        (16, 4, 1, "SAME", 16, 1),
        (16, 5, 1, "SAME", 16, 2),
        (16, 1, 3, "SAME", 48, 0),
        (16, 4, 1, "VALID", 19, 0),
        (16, 3, 2, "VALID", 33, 0),
        (16, 1, 3, "VALID", 48, 0),
    ],
)
def test_deconv(n, k, s, padding, out, crop) -> None:
    assert arith.deconv_out(n, k, s, padding) == out
    assert arith.deconv_crop(k, s, padding) == crop


def test_crop_out() -> None:
    assert [arith.crop_out(16, 3), arith.crop_out(7, 3), arith.crop_out(5, 3)] == [10, 1, -1]


@pytest.mark.parametrize("kernel", [(3,), (2, 2, 2), (1, 3, 2), (2, 3), (4, 1), (5, 4, 3), (1,)])
def test_constant_tap_is_numpy_unravel_index(kernel) -> None:
    expected = np.unravel_index(math.prod(kernel) // 2, kernel)
    assert arith.constant_tap(kernel) == tuple(int(i) for i in expected)


@pytest.mark.parametrize(("n_in", "n_out"), [(4, 8), (8, 4), (5, 7), (7, 3), (3, 3), (1, 4)])
def test_resize_source_is_the_legacy_mapping(n_in, n_out) -> None:
    for dst in range(n_out):
        src = dst * n_in / n_out
        i0, i1, w = arith.resize_source(dst, n_in, n_out)
        assert i0 == math.floor(src)
        assert i1 == min(i0 + 1, n_in - 1)
        assert w == pytest.approx(src - math.floor(src), abs=1e-15)
