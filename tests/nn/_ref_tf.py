"""NumPy float64 reference of TF / NiftyNet conv, conv-transpose, pool and resize semantics.

Written from the formulas of `niftynet-semantics.md` (§0.2, §3.1, §4, §7, §9, §15), channels
first `(N, C, *spatial)`, one kernel tap at a time. It deliberately shares no code with
`graphnet` (not even the shape arithmetic), so a test comparing the two can fail.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

Ints = Sequence[int]
_ALL = (slice(None), slice(None))


def same_pads(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """§0.2: `out = ceil(n/s)`, `P = max((out-1)*s + ke - n, 0)`, extra pad at the end."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def correlate(xp: np.ndarray, w: np.ndarray, stride: Ints, dilation: Ints) -> np.ndarray:
    """Unpadded (VALID) cross-correlation; `w` is `[C_out, C_in, *k]`."""
    kernel = w.shape[2:]
    out = [
        (m - (k - 1) * d - 1) // s + 1
        for m, k, s, d in zip(xp.shape[2:], kernel, stride, dilation, strict=True)
    ]
    y = np.zeros((xp.shape[0], w.shape[0], *out))
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, d, o, s in zip(tap, dilation, out, stride, strict=True)
        )
        y += np.einsum("nc...,oc->no...", xp[_ALL + window], w[_ALL + tap])
    return y


def _pad(x: np.ndarray, pairs: Sequence[tuple[int, int]], mode: str, **kw: float) -> np.ndarray:
    return np.pad(x, [(0, 0), (0, 0), *pairs], mode=mode, **kw)  # type: ignore[call-overload]


def conv(
    x: np.ndarray,
    w: np.ndarray,
    stride: Ints,
    dilation: Ints,
    padding: str,
    constant: float = 0.0,
) -> np.ndarray:
    """TF `tf.nn.convolution` (SAME/VALID) or NiftyNet's `_extended_convolution`."""
    kernel = w.shape[2:]
    if padding == "VALID":
        return correlate(x, w, stride, dilation)
    if padding == "SAME":
        pairs = [
            same_pads(n, k, s, d)
            for n, k, s, d in zip(x.shape[2:], kernel, stride, dilation, strict=True)
        ]
        return correlate(_pad(x, pairs, "constant"), w, stride, dilation)
    return _extended_conv(x, w, stride, dilation, padding, constant)


def _extended_conv(
    x: np.ndarray, w: np.ndarray, stride: Ints, dilation: Ints, padding: str, constant: float
) -> np.ndarray:
    """§3.1, step by step: pad by p with the mode, SAME conv, slice the centred output."""
    sizes, kernel = x.shape[2:], w.shape[2:]
    out = [math.ceil(n / s) for n, s in zip(sizes, stride, strict=True)]
    pads = [
        ((o - 1) * s + (k - 1) * d + 2 - n) // 2
        for n, o, k, s, d in zip(sizes, out, kernel, stride, dilation, strict=True)
    ]
    if padding == "CONSTANT":
        # TF rejects a negative pad here; graphnet pads nothing, as NiftyNet's REFLECT loop does.
        padded = _pad(x, [(max(p, 0),) * 2 for p in pads], "constant", constant_values=constant)
    else:
        padded = _repeated_mirror_pad(x, pads, padding)
    y = conv(padded, w, stride, dilation, "SAME")
    offsets = [(m - o) // 2 for m, o in zip(y.shape[2:], out, strict=True)]
    return y[_ALL + tuple(slice(a, a + o) for a, o in zip(offsets, out, strict=True))]


def _repeated_mirror_pad(x: np.ndarray, pads: Ints, padding: str) -> np.ndarray:
    """NiftyNet's loop: rounds of `tf.pad(mode)`, each no wider than the tensor allows."""
    mode, edge = {"REFLECT": ("reflect", 1), "SYMMETRIC": ("symmetric", 0)}[padding]
    sizes, padded = x.shape[2:], x
    while min(m - n - 2 * p for m, n, p in zip(padded.shape[2:], sizes, pads, strict=True)) < 0:
        rounds = [
            max(min((n + 2 * p - m) // 2, m - edge), 0)
            for m, n, p in zip(padded.shape[2:], sizes, pads, strict=True)
        ]
        assert max(rounds) > 0
        padded = _pad(padded, [(r, r) for r in rounds], mode)
    return padded


def conv_stride1_formula(
    x: np.ndarray, w: np.ndarray, dilation: Ints, padding: str, constant: float = 0.0
) -> np.ndarray:
    """§3.1 closed form for stride 1: `y[j] = sum_t w[t] * ext(x)[j + t*d - floor((k-1)*d/2)]`.

    `ext` is NumPy's own (iterated) mirror / constant extension, far wider than needed.
    """
    margin = 4 * max(x.shape[2:]) + 4 * max(w.shape[2:]) * max(dilation)
    if padding == "CONSTANT":
        ext = _pad(x, [(margin, margin)] * (x.ndim - 2), "constant", constant_values=constant)
    else:
        ext = _pad(x, [(margin, margin)] * (x.ndim - 2), padding.lower())
    starts = [margin - (k - 1) * d // 2 for k, d in zip(w.shape[2:], dilation, strict=True)]
    window = tuple(
        slice(a, a + n + (k - 1) * d)
        for a, n, k, d in zip(starts, x.shape[2:], w.shape[2:], dilation, strict=True)
    )
    return correlate(ext[_ALL + window], w, [1] * len(dilation), dilation)


def conv_transpose(x: np.ndarray, w: np.ndarray, stride: Ints, padding: str) -> np.ndarray:
    """§0.2/§4: full transposed conv, then `full[pb : pb + out]`, zero-filled past its end.

    `w` is torch's transposed layout `[C_in, C_out, *k]`.
    """
    sizes, kernel = x.shape[2:], w.shape[2:]
    full_sizes = [(n - 1) * s + k for n, k, s in zip(sizes, kernel, stride, strict=True)]
    full = np.zeros((x.shape[0], w.shape[1], *full_sizes))
    for tap in itertools.product(*(range(k) for k in kernel)):
        where = tuple(
            slice(t, t + (n - 1) * s + 1, s) for t, n, s in zip(tap, sizes, stride, strict=True)
        )
        full[_ALL + where] += np.einsum("nc...,co->no...", x, w[_ALL + tap])
    if padding == "SAME":
        outs = [n * s for n, s in zip(sizes, stride, strict=True)]
        starts = [max(k - s, 0) // 2 for k, s in zip(kernel, stride, strict=True)]
    else:
        outs = [n * s + max(k - s, 0) for n, k, s in zip(sizes, kernel, stride, strict=True)]
        starts = [0] * len(sizes)
    y = np.zeros((x.shape[0], w.shape[1], *outs))
    kept = [min(o, f - a) for o, f, a in zip(outs, full_sizes, starts, strict=True)]
    source = tuple(slice(a, a + m) for a, m in zip(starts, kept, strict=True))
    y[_ALL + tuple(slice(0, m) for m in kept)] = full[_ALL + source]
    return y


def pool(x: np.ndarray, kernel: Ints, stride: Ints, padding: str, func: str) -> np.ndarray:
    """`tf.nn.pool` AVG/MAX: SAME-AVG divides by the non-padded count, SAME-MAX ignores pads."""
    if padding == "SAME":
        pairs = [same_pads(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride, strict=True)]
    else:
        pairs = [(0, 0)] * len(kernel)
    fill = -np.inf if func == "MAX" else 0.0
    xp = _pad(x, pairs, "constant", constant_values=fill)
    ones = _pad(np.ones_like(x), pairs, "constant")
    out = [(m - k) // s + 1 for m, k, s in zip(xp.shape[2:], kernel, stride, strict=True)]
    result = np.full(x.shape[:2] + tuple(out), fill)
    count = np.zeros(x.shape[:2] + tuple(out))
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = tuple(
            slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, out, stride, strict=True)
        )
        if func == "MAX":
            result = np.maximum(result, xp[_ALL + window])
        else:
            result = result + xp[_ALL + window]
            count = count + ones[_ALL + window]
    return result if func == "MAX" else result / count


def constant_downsample(x: np.ndarray, kernel: Ints, stride: Ints, padding: str) -> np.ndarray:
    """§7 CONSTANT: each channel convolved with `trivial_kernel` (one-hot at flat prod(k)//2)."""
    one_hot = np.zeros(int(np.prod(kernel)))
    one_hot[one_hot.size // 2] = 1.0
    w = one_hot.reshape(kernel)[None, None]
    dilation = [1] * len(kernel)
    channels = [conv(x[:, c : c + 1], w, stride, dilation, padding) for c in range(x.shape[1])]
    return np.concatenate(channels, axis=1)


def replicate(x: np.ndarray, kernel: Ints) -> np.ndarray:
    """§9 REPLICATE: `out[..., i*k + a, ...] = in[..., i, ...]` for every offset `a < k`."""
    index = tuple(
        np.arange(n * k).reshape([-1 if i == a else 1 for i in range(len(kernel))]) // k
        for a, (n, k) in enumerate(zip(x.shape[2:], kernel, strict=True))
    )
    return x[_ALL + index]


def _legacy_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.arange(n_out) * (n_in / n_out)
    lower = np.floor(src).astype(int)
    return lower, np.minimum(lower + 1, n_in - 1), src - lower


def resize_bilinear_2d(x: np.ndarray, size: Ints) -> np.ndarray:
    """`tf.image.resize_bilinear(align_corners=False)`, TF1 legacy mapping, on `(N, C, H, W)`."""
    y0, y1, ly = _legacy_axis(x.shape[2], size[0])
    x0, x1, lx = _legacy_axis(x.shape[3], size[1])
    ly, lx = ly[:, None], lx[None, :]
    top_left, top_right = x[:, :, y0][..., x0], x[:, :, y0][..., x1]
    bottom_left, bottom_right = x[:, :, y1][..., x0], x[:, :, y1][..., x1]
    top = top_left + (top_right - top_left) * lx
    bottom = bottom_left + (bottom_right - bottom_left) * lx
    return top + (bottom - top) * ly


def resize_linear(x: np.ndarray, size: Ints) -> np.ndarray:
    """NiftyNet `LinearResizeLayer`: 2D bilinear, or 3D as (Y, Z) per X-slice then X."""
    if x.ndim == 4:
        return resize_bilinear_2d(x, size)
    if tuple(x.shape[2:]) == tuple(size):
        return x
    n, c, sx, sy, sz = x.shape
    per_slice = x.transpose(0, 2, 1, 3, 4).reshape(n * sx, c, sy, sz)
    yz = resize_bilinear_2d(per_slice, size[1:]).reshape(n, sx, c, size[1], size[2])
    # Resize X with Y held fixed: a 2D resize over (Y, X) for every Z.
    yx = yz.transpose(0, 4, 2, 3, 1).reshape(n * size[2], c, size[1], sx)
    out = resize_bilinear_2d(yx, (size[1], size[0]))
    return out.reshape(n, size[2], c, size[1], size[0]).transpose(0, 2, 4, 3, 1)
