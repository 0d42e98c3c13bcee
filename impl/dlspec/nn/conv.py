"""2-D convolution and max pooling from primitives, and the explicit matrix of a convolution.

Notation, as on the spec page `convolution/convolution.md`: an input `x` of shape
`(N, C_in, H, W)`, a kernel `w` of shape `(C_out, C_in/G, k_h, k_w)` (`G` groups), a bias `b` of
shape `(C_out,)`, stride `s` and padding `p` per axis. The padded input `x̃` has size
`(H + 2p_h) × (W + 2p_w)`: zeros outside `x` (`padding_mode="zeros"`), or `x` repeated
periodically (`padding_mode="circular"`, `x̃[i] = x[(i − p) mod H]`). The output, of size
`H′ = ⌊(H + 2p_h − k_h)/s_h⌋ + 1` by `W′` likewise, is the cross-correlation (what deep-learning
libraries call convolution)

    y[n, o, i, j] = b[o] + Σ_{c, a, β} w[o, c, a, β] · x̃[n, c, s_h i + a, s_w j + β],

computed by stacking the `k_h k_w` strided views `x̃[.., a::s_h, β::s_w]` (one per kernel tap:
the windows of every output position, "im2col") and multiplying them by the flattened kernel in
one matrix product. `conv_matrix()` builds the
same linear map as an explicit `(C_out·H′·W′) × (C_in·H·W)` matrix `M`: sparse (a row has at most
`C_in k_h k_w` non-zeros, those of the kernel) and weight-tied (every non-zero entry is a kernel
entry, the same one in every row). `max_pool2d()` takes the maximum over each `k_h × k_w` window
taken with stride `s` (no padding).

`conv2d(..., fast=True)` (and `Conv2d(..., fast=True)`) is the fast form (claim
`conv.fast-form`): the same sum, a `torch.autograd.Function` with a hand-written backward. The
windows of the padded input `x̃` are one `as_strided` view `x̃[n, c, s_h i + a, s_w j + β]`
`(N, C, k_h, k_w, H′, W′)`, no copy; a few images at a time are copied into a cache-sized
`(G, k_h k_w C/G, H′W′)` block per image and multiplied by the kernel in one matrix product,
bias included, straight into the (NCHW, contiguous) output. The backward reuses the same
blocks: `∂L/∂w = cols ∂L/∂yᵀ` (one product per block), `∂L/∂b = Σ ∂L/∂y`, and `∂L/∂x̃` adds
`wᵀ ∂L/∂y` back onto the `k_h k_w` windows it came from (one strided add per tap).
It has no second derivative (double backward raises).

Claims served: `conv.sparse-tied-linear`, `conv.parameter-count`,
`conv.translation-equivariance`, `conv.fast-form`, `pool.max-example`, `pool.local-invariance`,
`cnn.digits`.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_flag,
    check_float_dtype,
    check_float_tensor,
    check_generator,
    check_int,
)
from dlspec.nn._recurrent_fast import _first_order
from dlspec.nn.linear import uniform_init
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "PADDING_MODES",
    "Conv2d",
    "MaxPool2d",
    "conv2d",
    "conv_matrix",
    "conv_output_size",
    "conv_parameter_count",
    "dense_parameter_count",
    "max_pool2d",
    "pad2d",
]

PADDING_MODES = ("zeros", "circular")


# -- argument checks ------------------------------------------------------------------------------


def _pair(value: Any, name: str, low: int) -> tuple[int, int]:
    """`value` (an int or a pair of ints, each ≥ `low`) as a pair `(v_h, v_w)`."""
    what = f"an integer ≥ {low} or a pair of them"
    items = value if isinstance(value, tuple | list) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be {what}, got {value!r}")
        if int(v) < low:
            raise ValueError(f"{name} must be {what}, got {value!r}")
        out.append(int(v))
    return out[0], out[1]


def _check_images(x: Any, name: str = "x") -> Tensor:
    t = check_float_tensor(x, name)
    if t.dim() != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got shape {tuple(t.shape)}")
    return t


def _check_mode(padding_mode: Any, name: str = "padding_mode") -> str:
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{name} must be one of {PADDING_MODES}, got {padding_mode!r}")
    return str(padding_mode)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """`⌊(size + 2·padding − kernel) / stride⌋ + 1`, the output length along one axis.

    Raises a `ValueError` naming `kernel` when the kernel is larger than the padded input
    (`kernel > size + 2·padding`): no window fits.
    """
    return _output_size(size, kernel, stride, padding, "kernel")


def _output_size(size: int, kernel: int, stride: int, padding: int, kernel_name: str) -> int:
    """`conv_output_size`, its errors naming the kernel `kernel_name` (the caller's argument)."""
    size = check_int(size, "size")
    kernel = check_int(kernel, kernel_name)
    stride = check_int(stride, "stride")
    padding = check_int(padding, "padding", low=0)
    if kernel > size + 2 * padding:
        raise ValueError(
            f"{kernel_name} must be at most the padded input size {size} + 2·{padding} = "
            f"{size + 2 * padding}, got {kernel}"
        )
    return (size + 2 * padding - kernel) // stride + 1


# -- padding --------------------------------------------------------------------------------------


def pad2d(x: Tensor, padding: int | tuple[int, int], mode: str = "zeros") -> Tensor:
    """`x̃`: `x` padded by `p_h` rows and `p_w` columns on each side.

    `"zeros"`: `x̃ = 0` outside `x`; `"circular"`: `x̃[.., i, j] = x[.., (i − p_h) mod H,
    (j − p_w) mod W]` (periodic extension; any `p` is allowed).
    """
    x = _check_images(x)
    ph, pw = _pair(padding, "padding", 0)
    mode = _check_mode(mode, "mode")
    n, c, h, w = x.shape
    if ph == 0 and pw == 0:
        return x
    if mode == "zeros":
        xp = x.new_zeros((n, c, h + 2 * ph, w + 2 * pw))  # x̃ = 0 …
        xp[:, :, ph : ph + h, pw : pw + w] = x  # … except x̃[p + i, p + j] = x[i, j]
        return xp
    rows = torch.remainder(torch.arange(-ph, h + ph, device=x.device), h)  # (i − p_h) mod H
    cols = torch.remainder(torch.arange(-pw, w + pw, device=x.device), w)  # (j − p_w) mod W
    return x[:, :, rows][:, :, :, cols]


# -- convolution ----------------------------------------------------------------------------------


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    padding_mode: str = "zeros",
    groups: int = 1,
    fast: bool = False,
) -> Tensor:
    """`y = w ⋆ x̃ + b` (cross-correlation), shape `(N, C_out, H′, W′)`.

    `weight` is `(C_out, C_in/G, k_h, k_w)`; with `groups = G` the input channels and the
    output channels are split into `G` equal blocks and block `g` of the output sees only block
    `g` of the input (as `torch.nn.functional.conv2d`'s `groups`). Serves
    `conv.sparse-tied-linear` and `conv.translation-equivariance`. `fast=True`: the same values
    and gradients by `_Conv2dFast` (`conv.fast-form`).
    """
    x = _check_images(x)
    weight = check_float_tensor(weight, "weight", dim=4)
    _check_same(weight, x, "weight")
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    mode = _check_mode(padding_mode)
    g = check_int(groups, "groups")
    n, c_in, h, w = x.shape
    c_out, c_g, kh, kw = weight.shape
    if c_in % g or c_out % g or c_g != c_in // g:
        raise ValueError(
            f"weight must have shape (C_out, C_in/groups, k_h, k_w) with C_in = {c_in} and "
            f"C_out divisible by groups = {g}, got {tuple(weight.shape)}"
        )
    if bias is not None:
        bias = check_float_tensor(bias, "bias", dim=1)
        _check_same(bias, x, "bias")
        if bias.shape[0] != c_out:
            raise ValueError(f"bias must have shape ({c_out},), got {tuple(bias.shape)}")
    ho = _output_size(h, kh, sh, ph, "kernel_size")  # H′ = ⌊(H + 2p_h − k_h)/s_h⌋ + 1
    wo = _output_size(w, kw, sw, pw, "kernel_size")
    if check_flag(fast, "fast"):
        if mode == "circular":  # wrap first (autograd sums the wrapped gradients back)
            x, (ph, pw) = pad2d(x, (ph, pw), mode), (0, 0)
        y: Tensor = _Conv2dFast.apply(x, weight, bias, (sh, sw), (ph, pw), g)  # type: ignore[no-untyped-call]
        return y
    xp = pad2d(x, (ph, pw), mode)  # x̃
    # im2col: cols[n, c, (a, β), i, j] = x̃[n, c, s_h i + a, s_w j + β], one strided view per tap
    taps = [
        xp[:, :, a : a + sh * (ho - 1) + 1 : sh, b : b + sw * (wo - 1) + 1 : sw]
        for a in range(kh)
        for b in range(kw)
    ]
    cols = torch.stack(taps, dim=2).reshape(n, g, c_g * kh * kw, ho * wo)  # rows (c, a, β)
    wmat = weight.reshape(g, c_out // g, c_g * kh * kw)  # (G, C_out/G, C_in/G · k_h k_w)
    y = wmat @ cols  # Σ_{c,a,β} w[o, c, a, β] x̃[n, c, s_h i + a, s_w j + β]: (N, G, C_out/G, H′W′)
    y = y.reshape(n, c_out, ho, wo)
    if bias is not None:
        y = y + bias[:, None, None]  # + b[o]
    return y


#: The error of a second derivative through the fast form (`conv.fast-form`).
SECOND_ORDER = (
    "conv2d's fast form (fast=True) has a first-order backward only: a second derivative "
    "through it (a gradient penalty, a Hessian-vector product) is not implemented; use fast=False"
)

#: Entries of the im2col block the fast form builds at a time (4 MiB in float32: it stays in
#: cache between its copy and its matrix products).
BLOCK_ENTRIES = 1 << 20


def _windows(xp: Tensor, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> Tensor:
    """The windows of a padded input `xp` `(N, C, H_p, W_p)` as one view `(N, C, k_h, k_w, H′,
    W′)`: entry `[n, c, a, β, i, j] = x̃[n, c, s_h i + a, s_w j + β]` (no copy)."""
    s_n, s_c, s_h, s_w = xp.stride()
    n, c = xp.shape[:2]  # (the view starts at xp's own storage offset, as_strided's default)
    return xp.as_strided((n, c, kh, kw, ho, wo), (s_n, s_c, s_h, s_w, sh * s_h, sw * s_w))


def _blocks(n: int, per_image: int) -> list[tuple[int, int]]:
    """Ranges `n0:n1` of images holding about `BLOCK_ENTRIES` window entries each."""
    step = max(1, BLOCK_ENTRIES // max(1, per_image))
    return [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


class _Conv2dFast(torch.autograd.Function):
    """`y = w ⋆ x̃ + b` with zero padding, by blocks of images; hand-written backward.

    Shapes as in `conv2d`; `G` groups of `C_g = C_in/G` inputs and `O_g = C_out/G` outputs;
    `K_g = C_g k_h k_w` entries per window and group, ordered `(c, a, β)` like the kernel's.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
        g: int,
    ) -> Tensor:
        n, c, h, w = x.shape
        c_out, c_g, kh, kw = weight.shape
        (sh, sw), (ph, pw) = stride, padding
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        xp = pad2d(x, (ph, pw))  # x̃ (x itself when there is no padding)
        win = _windows(xp, kh, kw, sh, sw, ho, wo)
        wmat = weight.reshape(g, c_out // g, c_g * kh * kw)  # (G, O_g, K_g)
        y = x.new_empty((n, g, c_out // g, ho * wo))
        for n0, n1 in _blocks(n, c * kh * kw * ho * wo):
            cols = win[n0:n1].reshape(n1 - n0, g, c_g * kh * kw, ho * wo)  # copies the windows
            if bias is None:
                torch.matmul(wmat, cols, out=y[n0:n1])  # Σ_{c,a,β} w[o, c, a, β] x̃[…]
            else:  # b[o] + Σ_{c,a,β} w[o, c, a, β] x̃[…]
                torch.add(bias.view(g, c_out // g, 1), wmat @ cols, out=y[n0:n1])
        # the inputs saved last, for _first_order (the anchors of a refused second derivative)
        anchors = (x, weight) if bias is None else (x, weight, bias)
        ctx.save_for_backward(xp, weight, *anchors)
        ctx.inputs, ctx.second_order = len(anchors), SECOND_ORDER
        ctx.conf = (stride, padding, g, (h, w), bias is not None)
        return y.view(n, c_out, ho, wo)

    @staticmethod
    @_first_order
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        xp, weight = ctx.saved_tensors[:2]
        (sh, sw), (ph, pw), g, (h, w), has_bias = ctx.conf
        n, c = xp.shape[:2]
        c_out, c_g, kh, kw = weight.shape
        ho, wo = gy.shape[2], gy.shape[3]
        want_x, want_w, want_b = ctx.needs_input_grad[:3]
        gy = gy.reshape(n, g, c_out // g, ho * wo)  # ∂L/∂y
        win = _windows(xp, kh, kw, sh, sw, ho, wo)
        wmat_t = weight.reshape(g, c_out // g, c_g * kh * kw).transpose(1, 2).contiguous()
        gw_t = xp.new_zeros((g, c_g * kh * kw, c_out // g)) if want_w else None  # (∂L/∂w)ᵀ
        gxp = torch.zeros_like(xp) if want_x else None  # ∂L/∂x̃
        for n0, n1 in _blocks(n, c * kh * kw * ho * wo):
            gyb = gy[n0:n1]  # (n_b, G, O_g, H′W′)
            if gw_t is not None:  # ∂L/∂w[o, (c, a, β)] += Σ_{n,i,j} x̃[…] ∂L/∂y[n, o, i, j]
                cols = win[n0:n1].reshape(n1 - n0, g, c_g * kh * kw, ho * wo)
                gw_t += (cols @ gyb.transpose(2, 3)).sum(0)
            if gxp is not None:  # ∂L/∂cols = wᵀ ∂L/∂y, added back onto the windows it read
                gcols = (wmat_t @ gyb).view(n1 - n0, c, kh, kw, ho, wo)
                gxb = gxp[n0:n1]
                for a in range(kh):
                    for b in range(kw):  # x̃[n, c, s_h i + a, s_w j + β] was read by tap (a, β)
                        rows, cols_ = slice(a, a + sh * (ho - 1) + 1, sh), slice(b, None, sw)
                        gxb[:, :, rows, cols_][..., :wo] += gcols[:, :, a, b]
        grad_x = None if gxp is None else gxp[:, :, ph : ph + h, pw : pw + w]
        grad_w = None if gw_t is None else gw_t.transpose(1, 2).reshape(weight.shape)
        grad_b = gy.sum((0, 3)).reshape(c_out) if want_b and has_bias else None  # Σ ∂L/∂y
        return grad_x, grad_w, grad_b, None, None, None


def _check_same(t: Tensor, x: Tensor, name: str) -> None:
    if t.device != x.device:
        raise ValueError(f"{name} must be on x's device {x.device}, got {t.device}")
    if t.dtype != x.dtype:
        raise TypeError(f"{name} must have x's dtype {x.dtype}, got {t.dtype}")


class Conv2d(nn.Module):
    """A 2-D convolution layer: `weight` `(C_out, C_in/G, k_h, k_w)`, `bias` `(C_out,)`.

    Weights start as `U(−1/√fan_in, 1/√fan_in)` with `fan_in = C_in/G · k_h k_w` (the scale of
    `torch.nn.Conv2d`), drawn from `generator` when given. Serves `conv.sparse-tied-linear`,
    `conv.parameter-count`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        padding_mode: str = "zeros",
        groups: int = 1,
        bias: bool = True,
        fast: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.fast = check_flag(fast, "fast")
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.padding_mode = _check_mode(padding_mode)
        self.groups = check_int(groups, "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"groups must divide in_channels ({self.in_channels}) and out_channels "
                f"({self.out_channels}), got {self.groups}"
            )
        check_flag(bias, "bias")
        generator = check_generator(generator)
        dtype = check_float_dtype(dtype if dtype is not None else torch.get_default_dtype())
        c_g = self.in_channels // self.groups
        fan_in = c_g * self.kernel_size[0] * self.kernel_size[1]
        kw: dict[str, Any] = {"generator": generator, "device": device, "dtype": dtype}
        shape = (self.out_channels, c_g, *self.kernel_size)
        self.weight = nn.Parameter(uniform_init(shape, fan_in, **kw))
        self.bias = nn.Parameter(uniform_init((self.out_channels,), fan_in, **kw)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            padding_mode=self.padding_mode,
            groups=self.groups,
            fast=self.fast,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, padding_mode={self.padding_mode!r}, "
            f"groups={self.groups}, bias={self.bias is not None}"
            + (", fast=True" if self.fast else "")
        )


# -- the explicit matrix --------------------------------------------------------------------------


def conv_matrix(
    weight: Tensor,
    input_size: tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    padding_mode: str = "zeros",
) -> Tensor:
    """The matrix `M` of the convolution (`groups = 1`), shape `(C_out·H′·W′, C_in·H·W)`.

    For `x` of shape `(N, C_in, H, W)`: `conv2d(x, w, b).reshape(N, −1) =
    x.reshape(N, −1) @ Mᵀ + b` repeated over the `H′W′` positions (`conv.sparse-tied-linear`).
    Row `(o, i, j)` holds `w[o, c, a, β]` in column `(c, r, q)` for every tap whose input pixel
    `(r, q) = (s_h i + a − p_h, s_w j + β − p_w)` lies inside `x` (zero padding: taps that fall on
    the padding are dropped) or `(r mod H, q mod W)` (circular padding: taps that land on the same
    pixel add up). `M` is differentiable in `w`: its gradient collects the gradients of every
    entry tied to a kernel entry.
    """
    weight = check_float_tensor(weight, "weight", dim=4)
    if not isinstance(input_size, tuple | list) or len(input_size) != 2:
        raise ValueError(f"input_size must be a pair (H, W), got {input_size!r}")
    h, w = _pair(tuple(input_size), "input_size", 1)
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    mode = _check_mode(padding_mode)
    c_out, c_in, kh, kw = weight.shape
    ho, wo = _output_size(h, kh, sh, ph, "kernel_size"), _output_size(w, kw, sw, pw, "kernel_size")
    dev = weight.device

    def ar(k: int) -> Tensor:
        return torch.arange(k, device=dev)

    # One entry per (o, i, j, c, a, β), broadcast to a 6-D grid.
    o = ar(c_out).view(-1, 1, 1, 1, 1, 1)
    i = ar(ho).view(1, -1, 1, 1, 1, 1)
    j = ar(wo).view(1, 1, -1, 1, 1, 1)
    c = ar(c_in).view(1, 1, 1, -1, 1, 1)
    a = ar(kh).view(1, 1, 1, 1, -1, 1)
    b = ar(kw).view(1, 1, 1, 1, 1, -1)
    r = sh * i + a - ph  # input row of the tap
    q = sw * j + b - pw  # input column of the tap
    shape = (c_out, ho, wo, c_in, kh, kw)
    if mode == "circular":
        r, q = torch.remainder(r, h), torch.remainder(q, w)
        inside = torch.ones(shape, dtype=torch.bool, device=dev)
    else:
        inside = ((r >= 0) & (r < h) & (q >= 0) & (q < w)).expand(shape)
    row = ((o * ho + i) * wo + j).expand(shape)  # flat index of output (o, i, j)
    col = ((c * h + r.clamp(0, h - 1)) * w + q.clamp(0, w - 1)).expand(shape)  # input (c, r, q)
    vals = weight.reshape(c_out, 1, 1, c_in, kh, kw).expand(shape) * inside  # w[o, c, a, β] or 0
    m = weight.new_zeros((c_out * ho * wo, c_in * h * w))
    return m.index_put((row.reshape(-1), col.reshape(-1)), vals.reshape(-1), accumulate=True)


# -- parameter counts -----------------------------------------------------------------------------


def conv_parameter_count(c_in: int, c_out: int, k: int, *, bias: bool = True) -> int:
    """`C_out·C_in·k² (+ C_out)`: a `k × k` convolution's parameters (`conv.parameter-count`)."""
    c_in, c_out, k = check_int(c_in, "c_in"), check_int(c_out, "c_out"), check_int(k, "k")
    return c_out * c_in * k * k + (c_out if check_flag(bias, "bias") else 0)


def dense_parameter_count(
    c_in: int, h: int, w: int, c_out: int, h_out: int, w_out: int, *, bias: bool = True
) -> int:
    """`(C_in·H·W)·(C_out·H′·W′) (+ C_out·H′·W′)`: a fully connected layer between the same
    input and output shapes (`conv.parameter-count`)."""
    n_in = check_int(c_in, "c_in") * check_int(h, "h") * check_int(w, "w")
    n_out = check_int(c_out, "c_out") * check_int(h_out, "h_out") * check_int(w_out, "w_out")
    return n_in * n_out + (n_out if check_flag(bias, "bias") else 0)


# -- max pooling ----------------------------------------------------------------------------------


def max_pool2d(
    x: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> Tensor:
    """`y[n, c, i, j] = max_{a < k_h, β < k_w} x[n, c, s_h i + a, s_w j + β]`, no padding.

    `stride` defaults to `kernel_size` (non-overlapping windows). Rows and columns past the last
    full window are dropped, as `torch.nn.functional.max_pool2d` does. The gradient of a window
    goes to its maximum (split equally among tied maxima, where PyTorch picks one). Serves
    `pool.max-example`, `pool.local-invariance`.
    """
    x = _check_images(x)
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride", 1)
    h, w = x.shape[2], x.shape[3]
    if kh > h or kw > w:
        raise ValueError(
            f"kernel_size must fit in the input ({h} × {w}): no pooling window fits, "
            f"got {kh} × {kw}"
        )
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1  # H′ = ⌊(H − k_h)/s_h⌋ + 1
    # y = max over taps (a, β) of the strided view x[.., s_h i + a, s_w j + β]
    taps = [
        x[:, :, a : a + sh * (ho - 1) + 1 : sh, b : b + sw * (wo - 1) + 1 : sw]
        for a in range(kh)
        for b in range(kw)
    ]
    return torch.stack(taps, dim=-1).amax(dim=-1)  # the maximum of each window


class MaxPool2d(nn.Module):
    """Max pooling over `kernel_size` windows with `stride` (default: `kernel_size`)."""

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


# -- registry samples (the generic device test) ---------------------------------------------------


@register("conv.Conv2d")
def _sample_conv(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, groups=2, device=device, dtype=dtype)
    return layer, (torch.randn(2, 4, 7, 6, device=device, dtype=dtype, requires_grad=True),)


@register("conv.Conv2d-fast")
def _sample_conv_fast(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = Conv2d(
        4, 6, (3, 2), stride=(2, 1), padding=1, groups=2, fast=True, device=device, dtype=dtype
    )
    return layer, (torch.randn(2, 4, 7, 6, device=device, dtype=dtype, requires_grad=True),)


@register("conv.conv2d-circular")
def _sample_conv_circular(device: torch.device, dtype: torch.dtype) -> Sample:
    def f(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        return conv2d(x, w, b, padding=2, padding_mode="circular")

    x = torch.randn(2, 3, 5, 5, device=device, dtype=dtype, requires_grad=True)
    w = torch.randn(4, 3, 5, 5, device=device, dtype=dtype, requires_grad=True)
    b = torch.randn(4, device=device, dtype=dtype, requires_grad=True)
    return f, (x, w, b)


@register("conv.conv_matrix")
def _sample_conv_matrix(device: torch.device, dtype: torch.dtype) -> Sample:
    def f(w: Tensor, x: Tensor) -> Tensor:
        zeros = conv_matrix(w, (5, 4), stride=2, padding=1)
        circ = conv_matrix(w, (5, 4), padding=1, padding_mode="circular")
        return torch.cat([x.reshape(2, -1) @ zeros.T, x.reshape(2, -1) @ circ.T], dim=1)

    w = torch.randn(3, 2, 3, 3, device=device, dtype=dtype, requires_grad=True)
    x = torch.randn(2, 2, 5, 4, device=device, dtype=dtype, requires_grad=True)
    return f, (w, x)


@register("conv.MaxPool2d")
def _sample_pool(device: torch.device, dtype: torch.dtype) -> Sample:
    pool = MaxPool2d((2, 3), stride=(1, 2))
    return pool, (torch.randn(2, 3, 5, 7, device=device, dtype=dtype, requires_grad=True),)


@register_calls
def _calls_conv(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(2, 4, 7, 6, device=device, dtype=dtype)
    w = torch.randn(6, 2, 3, 2, device=device, dtype=dtype)
    b = torch.randn(6, device=device, dtype=dtype)
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    pad = {"padding": "[0, inf)"}
    return [
        Call(
            Conv2d,
            {
                "in_channels": 4,
                "out_channels": 6,
                "kernel_size": (3, 2),
                "stride": (2, 1),
                "padding": 1,
                "groups": 2,
                **where,
            },
            forward={"x": x},
            ranges=pad,
            ndim=("x",),
        ),
        Call(
            conv2d,
            {"x": x, "weight": w, "bias": b, "stride": 2, "padding": (1, 0), "groups": 2},
            ranges=pad,
            ndim=("x", "weight", "bias"),
        ),
        Call(
            conv_matrix,
            {
                "weight": w[:, :, :2],
                "input_size": (5, 4),
                "stride": 2,
                "padding": 1,
                "padding_mode": "circular",
            },
            ranges=pad,
            ndim=("weight",),
        ),
        Call(conv_output_size, {"size": 7, "kernel": 3, "stride": 2, "padding": 1}, ranges=pad),
        Call(conv_parameter_count, {"c_in": 3, "c_out": 4, "k": 3}),
        Call(
            dense_parameter_count, {"c_in": 3, "h": 5, "w": 5, "c_out": 4, "h_out": 3, "w_out": 3}
        ),
        Call(max_pool2d, {"x": x, "kernel_size": (2, 3), "stride": (1, 2)}, ndim=("x",)),
        Call(MaxPool2d, {"kernel_size": 2, "stride": 1}, forward={"x": x}, ndim=("x",)),
        Call(pad2d, {"x": x, "padding": (1, 2), "mode": "zeros"}, ranges=pad, ndim=("x",)),
    ]
