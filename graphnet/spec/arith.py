"""TF/NiftyNet shape arithmetic as pure integer functions (no torch).

The torch modules in `graphnet.nn` and the static shape checker both call these, so the
shapes a graph is checked against are, by construction, the shapes the modules produce.
All functions work on one spatial axis; `expand` turns a layer field into one value per axis.

    >>> conv_out(16, 3, 2, 1, "SAME"), same_pads(16, 3, 2, 1)
    (8, (0, 1))
    >>> deconv_out(16, 3, 2, "SAME"), deconv_crop(3, 2, "SAME")
    (32, 0)
"""

from __future__ import annotations

from collections.abc import Sequence

from graphnet.errors import did_you_mean

CONV_PADDINGS = ("SAME", "VALID", "REFLECT", "SYMMETRIC", "CONSTANT")
DECONV_PADDINGS = ("SAME", "VALID")


def expand(value: int | float | Sequence[int | float], rank: int) -> tuple[int, ...]:
    """One int per spatial axis, like NiftyNet's `expand_spatial_params`.

    A scalar is repeated (floats are truncated); a sequence keeps its first `rank` items.

    >>> expand(3, 2), expand(2.9, 3), expand([3, 3, 1], 2)
    ((3, 3), (2, 2, 2), (3, 3))
    """
    if isinstance(value, (int, float)):
        return (int(value),) * rank
    items = tuple(int(v) for v in value)
    if len(items) < rank:
        raise ValueError(
            f"expected {rank} values (one per spatial axis), got {len(items)}. "
            f"Received: value={list(value)!r}"
        )
    return items[:rank]


def check_padding(padding: str, valid: Sequence[str] = CONV_PADDINGS) -> str:
    """The upper-cased padding name, or ValueError with a did-you-mean.

    >>> check_padding("same")
    'SAME'
    """
    name = padding.upper()
    if name not in valid:
        hint = did_you_mean(padding, list(valid), what="padding")
        raise ValueError(f"unknown padding {padding!r}: {hint}")
    return name


def effective_kernel(k: int, d: int) -> int:
    """Extent of a dilated kernel: `(k-1)*d + 1`.

    >>> effective_kernel(3, 2)
    5
    """
    return (k - 1) * d + 1


def conv_out(n: int, k: int, s: int, d: int, padding: str) -> int:
    """Output size of a conv or pool; REFLECT/SYMMETRIC/CONSTANT behave like SAME.

    VALID returns 0 when the dilated kernel does not fit (TF would raise); callers report it.

    >>> conv_out(16, 3, 3, 1, "SAME"), conv_out(16, 5, 2, 1, "VALID"), conv_out(3, 5, 1, 1, "VALID")
    (6, 6, 0)
    """
    if check_padding(padding) == "VALID":
        return max(-(-(n - effective_kernel(k, d) + 1) // s), 0)
    return -(-n // s)


def pool_out(n: int, k: int, s: int, padding: str) -> int:
    """Output size of a pool (SAME or VALID, no dilation).

    >>> pool_out(16, 2, 3, "SAME"), pool_out(16, 2, 3, "VALID")
    (6, 5)
    """
    return conv_out(n, k, s, 1, check_padding(padding, DECONV_PADDINGS))


def same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TF SAME padding `(before, after)`; the odd extra voxel goes at the END.

    >>> same_pads(16, 4, 1, 1), same_pads(16, 3, 2, 1), same_pads(16, 1, 3, 1)
    ((1, 2), (0, 1), (0, 0))
    """
    total = max((-(-n // s) - 1) * s + effective_kernel(k, d) - n, 0)
    return total // 2, total - total // 2


def extended_pads(n: int, k: int, s: int, d: int) -> tuple[int, int, int]:
    """Padding plan of NiftyNet's REFLECT/SYMMETRIC/CONSTANT convolution, `(p, before, after)`.

    NiftyNet pads the input by `p` on both sides with the mode, runs a SAME conv on that and
    slices `ceil(n/s)` outputs from the middle. Folded into one plan: pad by `p` with the mode,
    then zero-pad `before`/`after` (negative = crop) so a VALID conv gives `ceil(n/s)` outputs.
    A negative `p` (k=1, s>1) pads nothing, as NiftyNet's REFLECT loop does.

    >>> extended_pads(16, 3, 1, 1), extended_pads(16, 4, 1, 1), extended_pads(16, 3, 2, 1)
    ((1, 0, 0), (2, -1, 0), (1, 0, -1))
    """
    out = -(-n // s)
    p = max(((out - 1) * s + (k - 1) * d + 2 - n) // 2, 0)
    m = n + 2 * p
    inner_out = -(-m // s)
    inner_before = same_pads(m, k, s, d)[0]
    first = (inner_out - out) // 2 * s - inner_before  # first index read, in padded coordinates
    last = first + (out - 1) * s + effective_kernel(k, d)  # one past the last index read
    return p, -first, last - m


def deconv_out(n: int, k: int, s: int, padding: str) -> int:
    """Output size of NiftyNet's transposed conv: `n*s` (SAME), `n*s + max(k-s, 0)` (VALID).

    >>> deconv_out(16, 3, 2, "SAME"), deconv_out(16, 4, 1, "VALID"), deconv_out(16, 3, 2, "VALID")
    (32, 19, 33)
    """
    if check_padding(padding, DECONV_PADDINGS) == "SAME":
        return n * s
    return n * s + max(k - s, 0)


def deconv_crop(k: int, s: int, padding: str) -> int:
    """Start of the kept window in the full transposed conv (length `(n-1)*s + k`).

    >>> deconv_crop(3, 2, "SAME"), deconv_crop(5, 1, "SAME"), deconv_crop(5, 1, "VALID")
    (0, 2, 0)
    """
    if check_padding(padding, DECONV_PADDINGS) == "SAME":
        return max(k - s, 0) // 2
    return 0


def crop_out(n: int, border: int) -> int:
    """Size left after removing `border` voxels at both ends (may be < 1: caller reports it).

    >>> crop_out(16, 3), crop_out(7, 3)
    (10, 1)
    """
    return n - 2 * border


def constant_tap(kernel: Sequence[int]) -> tuple[int, ...]:
    """Offset of NiftyNet's one-hot sub-sampling tap: `unravel_index(prod(k)//2, k)`, C order.

    >>> constant_tap((3, 3)), constant_tap((2, 2, 2)), constant_tap((1, 3, 2)), constant_tap((2, 3))
    ((1, 1), (1, 0, 0), (0, 1, 1), (1, 0))
    """
    flat = 1
    for k in kernel:
        flat *= k
    flat //= 2
    index: list[int] = []
    for k in reversed(kernel):
        index.append(flat % k)
        flat //= k
    return tuple(reversed(index))


def resize_source(dst: int, n_in: int, n_out: int) -> tuple[int, int, float]:
    """TF legacy bilinear source of output index `dst`: `(i0, i1, weight of i1)`.

    `src = dst * n_in / n_out` (align_corners=False, half_pixel_centers=False), computed
    exactly in integers so the floor never suffers from rounding.

    >>> resize_source(3, 4, 8), resize_source(7, 4, 8), resize_source(1, 8, 4)
    ((1, 2, 0.5), (3, 3, 0.5), (2, 3, 0.0))
    """
    i0, rest = divmod(dst * n_in, n_out)
    return i0, min(i0 + 1, n_in - 1), rest / n_out
