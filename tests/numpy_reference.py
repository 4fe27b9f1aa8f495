"""Direct NumPy loops of operations the tests check layers against (slow, obviously right)."""

import numpy as np


def grouped_conv_numpy(x, kernel, groups, stride, dilation=1):
    """A VALID grouped convolution of NHWC ``x``, kernel ``(kh, kw, C_in / groups, C_out)``."""
    kh, kw, cin_g, cout = kernel.shape
    cout_g = cout // groups
    n, h, w, _ = x.shape
    eh, ew = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    oh, ow = (h - eh) // stride + 1, (w - ew) // stride + 1
    out = np.zeros((n, oh, ow, cout))
    for g in range(groups):
        xs = x[..., g * cin_g:(g + 1) * cin_g]
        ks = kernel[..., g * cout_g:(g + 1) * cout_g]
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * stride, i * stride + eh, dilation)
                cols = slice(j * stride, j * stride + ew, dilation)
                patch = xs[:, rows, cols]
                out[:, i, j, g * cout_g:(g + 1) * cout_g] = np.einsum("nhwc,hwco->no", patch, ks)
    return out
