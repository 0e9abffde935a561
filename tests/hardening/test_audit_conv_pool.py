"""Bad-input audit: convolutions, fold/unfold, pooling (max, avg, lp, adaptive, unpool)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ._audit import check_case, err, ints, params, rnd, same

NAN_IMG = rnd(1, 2, 5, 5)
NAN_IMG[0, 0, 1, 1] = np.nan
NAN_IMG[0, 1, 3, 2] = np.inf
NAN_IMG[0, 1, 0, 0] = -np.inf

X2 = rnd(2, 3, 8, 8)
W2 = rnd(4, 3, 3, 3, seed=1)
B2 = rnd(4, seed=2)
X1 = rnd(2, 3, 9)
W1 = rnd(4, 3, 3, seed=1)

C = "conv"
P = "pooling"


def conv2d(L, x=X2, w=W2, b=None, **kw):
    return L.F.conv2d(L.A(x), L.A(w), None if b is None else L.A(b), **kw)


def convt2d(L, x=X2, w=None, **kw):
    w = rnd(3, 4, 3, 3, seed=1) if w is None else w
    return L.F.conv_transpose2d(L.A(x), L.A(w), **kw)


CONV = [
    # accepted by torch: unbatched, empty batch, strings, NaN
    same("conv2d-unbatched-3d", lambda L: conv2d(L, x=X2[0]), area=C, kind="unbatched input"),
    same("conv1d-unbatched-2d", lambda L: L.F.conv1d(L.A(X1[0]), L.A(W1)), area=C, kind="unbatched input"),
    same("conv3d-unbatched-4d", lambda L: L.F.conv3d(L.A(rnd(2, 4, 4, 4)), L.A(rnd(3, 2, 2, 2, 2, seed=1))), area=C, kind="unbatched input"),
    same("conv2d-empty-batch", lambda L: conv2d(L, x=np.zeros((0, 3, 8, 8), np.float32)), area=C, kind="empty input"),
    same("conv2d-padding-same", lambda L: conv2d(L, padding="same", dilation=2), area=C, kind="valid edge"),
    same("conv2d-padding-same-even-kernel", lambda L: conv2d(L, w=rnd(4, 3, 2, 4, seed=1), padding="same"), area=C, kind="valid edge"),
    same("conv1d-padding-valid", lambda L: L.F.conv1d(L.A(X1), L.A(W1), padding="valid"), area=C, kind="valid edge"),
    same("conv2d-groups", lambda L: conv2d(L, x=rnd(1, 4, 5, 5), w=rnd(6, 2, 3, 3), groups=2), area=C, kind="valid edge"),
    same("conv2d-depthwise", lambda L: conv2d(L, x=rnd(1, 3, 5, 5), w=rnd(6, 1, 3, 3), groups=3), area=C, kind="valid edge"),
    same("conv2d-nan-inf", lambda L: conv2d(L, x=NAN_IMG, w=rnd(2, 2, 2, 2)), area=C, kind="NaN/inf"),
    same("conv2d-kernel-equals-input", lambda L: conv2d(L, x=rnd(1, 3, 3, 3)), area=C, kind="valid edge"),
    same("conv2d-tuple-1-padding", lambda L: conv2d(L, padding=(1,)), area=C, kind="valid edge"),
    same("conv2d-stride-larger-than-input", lambda L: conv2d(L, stride=10), area=C, kind="valid edge"),
    # rank
    err("conv2d-2d-input", lambda L: conv2d(L, x=rnd(3, 8)), (RuntimeError, ValueError), r"(?i)3D.*4D.*conv2d.*\[3, 8\]|input.*\[3, 8\]", area=C, kind="wrong rank"),
    err("conv2d-5d-input", lambda L: conv2d(L, x=rnd(1, 2, 3, 8, 8)), (RuntimeError, ValueError), r"(?i)input.*\[1, 2, 3, 8, 8\]", area=C, kind="wrong rank"),
    err("conv1d-4d-input", lambda L: L.F.conv1d(L.A(X2), L.A(W1)), (RuntimeError, ValueError), r"(?i)conv1d.*input", area=C, kind="wrong rank"),
    err("conv2d-weight-3d", lambda L: conv2d(L, w=rnd(4, 3, 3)), (RuntimeError, ValueError), r"(?i)weight", area=C, kind="wrong rank"),
    # channels / groups
    err("conv2d-channel-mismatch", lambda L: conv2d(L, x=rnd(2, 2, 8, 8)), RuntimeError, r"(?s)groups=1.*weight.*\[4, 3, 3, 3\].*3 channels.*2 channels", area=C, kind="channel count"),
    err("conv1d-channel-mismatch-unbatched", lambda L: L.F.conv1d(L.A(rnd(5, 9)), L.A(W1)), RuntimeError, r"(?s)3 channels.*5 channels", area=C, kind="channel count"),
    err("conv2d-groups-not-dividing-out", lambda L: conv2d(L, x=rnd(1, 4, 5, 5), w=rnd(5, 2, 3, 3), groups=2), RuntimeError, r"(?i)groups|divisible", area=C, kind="channel count"),
    err("conv2d-groups-channel-mismatch", lambda L: conv2d(L, x=rnd(1, 4, 5, 5), w=rnd(6, 4, 3, 3), groups=2), RuntimeError, r"(?s)groups=2.*8 channels.*4 channels", area=C, kind="channel count"),
    err("conv2d-groups-zero", lambda L: conv2d(L, groups=0), (RuntimeError, ValueError), r"groups.*0", area=C, kind="zero size"),
    err("conv2d-groups-negative", lambda L: conv2d(L, groups=-1), (RuntimeError, ValueError), r"groups.*-1", area=C, kind="negative size"),
    err("conv2d-bias-wrong-size", lambda L: conv2d(L, b=rnd(3)), (RuntimeError, ValueError), r"(?i)bias.*(3|4)", area=C, kind="feature count"),
    err("conv2d-bias-2d", lambda L: conv2d(L, b=rnd(4, 1)), (RuntimeError, ValueError), r"(?i)bias", area=C, kind="wrong rank"),
    # sizes
    err("conv2d-stride-zero", lambda L: conv2d(L, stride=0), (RuntimeError, ValueError), r"stride.*0", area=C, kind="zero size"),
    err("conv2d-stride-negative", lambda L: conv2d(L, stride=(1, -1)), (RuntimeError, ValueError), r"stride.*-1", area=C, kind="negative size"),
    err("conv2d-dilation-zero", lambda L: conv2d(L, dilation=0), (RuntimeError, ValueError), r"dilation.*0", area=C, kind="zero size"),
    err("conv2d-padding-negative", lambda L: conv2d(L, padding=-1), (RuntimeError, ValueError), r"(?i)padding.*-1", area=C, kind="negative size"),
    err("conv2d-kernel-larger-than-input", lambda L: conv2d(L, x=rnd(1, 3, 2, 2)), RuntimeError, r"(?i)kernel size.*(can't|cannot) be greater|input.*smaller", area=C, kind="too small input"),
    err("conv2d-padding-string-bad", lambda L: conv2d(L, padding="full"), (RuntimeError, ValueError), r"(?i)padding.*'full'", area=C, kind="invalid string"),
    err("conv2d-padding-same-strided", lambda L: conv2d(L, padding="same", stride=2), (RuntimeError, ValueError), r"(?i)padding='same'.*stride", area=C, kind="invalid combination"),
    err("conv2d-padding-wrong-length", lambda L: conv2d(L, padding=(1, 1, 1)), (RuntimeError, ValueError, TypeError), r"(?i)padding", area=C, kind="wrong length"),
    err("conv2d-stride-float", lambda L: conv2d(L, stride=1.5), (TypeError, ValueError, RuntimeError), r"(?i)stride", area=C, kind="wrong type"),
    # dtypes
    err("conv2d-int-input", lambda L: conv2d(L, x=ints(2, 3, 8, 8, high=3)), (TypeError, RuntimeError, ValueError), r"(?i)dtype|type|int", area=C, kind="int input"),
    err("conv2d-dtype-mismatch-f16", lambda L: conv2d(L, x=X2.astype(np.float16)), (TypeError, RuntimeError, ValueError), r"(?i)(dtype|type).*(float16|Half)|(float16|Half).*(dtype|type)", area=C, kind="dtype mismatch"),
    err("conv2d-bool-input", lambda L: conv2d(L, x=X2 > 0), (TypeError, RuntimeError, ValueError), r"(?i)dtype|type|bool", area=C, kind="bool input"),
    # transposed
    same("conv_transpose2d-ok", lambda L: convt2d(L, stride=2, padding=1, output_padding=1), area=C, kind="valid edge"),
    same("conv_transpose2d-unbatched", lambda L: convt2d(L, x=X2[0]), area=C, kind="unbatched input"),
    same("conv_transpose2d-groups-dilation", lambda L: convt2d(L, x=rnd(1, 4, 4, 4), w=rnd(4, 2, 2, 2), groups=2, dilation=2), area=C, kind="valid edge"),
    err("conv_transpose2d-output-padding-ge-stride", lambda L: convt2d(L, stride=2, output_padding=2), (RuntimeError, ValueError), r"(?i)output padding.*(smaller|less).*stride", area=C, kind="invalid combination"),
    err("conv_transpose2d-channel-mismatch", lambda L: convt2d(L, x=rnd(1, 2, 4, 4)), RuntimeError, r"(?i)channels|weight", area=C, kind="channel count"),
    err("conv_transpose2d-padding-same", lambda L: convt2d(L, padding="same"), (TypeError, ValueError, RuntimeError), r"(?i)padding", area=C, kind="invalid string"),
    err("conv_transpose2d-2d-input", lambda L: convt2d(L, x=rnd(3, 8)), (RuntimeError, ValueError), r"(?i)input", area=C, kind="wrong rank"),
    err("conv_transpose1d-stride-zero", lambda L: L.F.conv_transpose1d(L.A(X1), L.A(rnd(3, 2, 3)), stride=0), (RuntimeError, ValueError), r"stride.*0", area=C, kind="zero size"),
    err("conv_transpose2d-negative-output", lambda L: convt2d(L, x=rnd(1, 3, 1, 1), padding=3), RuntimeError, r"(?i)output size|too small|negative", area=C, kind="too small input"),
    # unfold / fold
    same("unfold-ok", lambda L: L.F.unfold(L.A(rnd(1, 2, 5, 5)), 3, padding=1, stride=2), area=C, kind="valid edge"),
    same("unfold-unbatched", lambda L: L.F.unfold(L.A(rnd(2, 5, 5)), 2), area=C, kind="unbatched input"),
    same("fold-ok", lambda L: L.F.fold(L.A(rnd(1, 2 * 4, 16)), (5, 5), 2), area=C, kind="valid edge"),
    err("unfold-3d-input-needs-4d", lambda L: L.F.unfold(L.A(rnd(1, 2, 5, 5, 5)), 3), (RuntimeError, ValueError, NotImplementedError), r"(?i)input|4-?D|3-?D", area=C, kind="wrong rank"),
    err("unfold-kernel-zero", lambda L: L.F.unfold(L.A(rnd(1, 2, 5, 5)), 0), RuntimeError, r"kernel", area=C, kind="zero size"),
    err("unfold-kernel-too-large", lambda L: L.F.unfold(L.A(rnd(1, 2, 2, 2)), 3), RuntimeError, r"(?i)kernel|too small|size", area=C, kind="too small input"),
    err("fold-wrong-block-count", lambda L: L.F.fold(L.A(rnd(1, 8, 15)), (5, 5), 2), RuntimeError, r"(?i)blocks|15.*16|16.*15", area=C, kind="wrong size"),
    err("fold-channels-not-divisible", lambda L: L.F.fold(L.A(rnd(1, 7, 16)), (5, 5), 2), RuntimeError, r"(?i)divisible|kernel_size|7", area=C, kind="channel count"),
    err("fold-stride-zero", lambda L: L.F.fold(L.A(rnd(1, 8, 16)), (5, 5), 2, stride=0), RuntimeError, r"stride", area=C, kind="zero size"),
]


def mp2(L, x=X2, *a, **kw):
    return L.F.max_pool2d(L.A(x), *a, **kw)


def ap2(L, x=X2, *a, **kw):
    return L.F.avg_pool2d(L.A(x), *a, **kw)


POOL = [
    same("max_pool2d-nan-inf", lambda L: mp2(L, NAN_IMG, 2, 1), area=P, kind="NaN/inf"),
    same("max_pool2d-nan-indices", lambda L: mp2(L, NAN_IMG, 2, 1, return_indices=True), area=P, kind="NaN/inf"),
    same("avg_pool2d-nan-inf", lambda L: ap2(L, NAN_IMG, 2, 1), area=P, kind="NaN/inf"),
    same("adaptive_max_pool2d-nan", lambda L: L.F.adaptive_max_pool2d(L.A(NAN_IMG), 2), area=P, kind="NaN/inf"),
    same("adaptive_avg_pool2d-nan", lambda L: L.F.adaptive_avg_pool2d(L.A(NAN_IMG), 2), area=P, kind="NaN/inf"),
    same("lp_pool2d-nan", lambda L: L.F.lp_pool2d(L.A(np.abs(NAN_IMG)), 2.0, 2), area=P, kind="NaN/inf"),
    same("max_pool1d-unbatched", lambda L: L.F.max_pool1d(L.A(X1[0]), 2), area=P, kind="unbatched input"),
    same("max_pool2d-unbatched", lambda L: mp2(L, X2[0], 2), area=P, kind="unbatched input"),
    same("avg_pool2d-unbatched", lambda L: ap2(L, X2[0], 3, 2, 1), area=P, kind="unbatched input"),
    same("max_pool2d-empty-batch", lambda L: mp2(L, np.zeros((0, 3, 4, 4), np.float32), 2), area=P, kind="empty input"),
    same("max_pool2d-padding-half-kernel", lambda L: mp2(L, X2, 4, 2, 2), area=P, kind="valid edge"),
    same("max_pool2d-ceil-dilation", lambda L: mp2(L, X2, 3, 2, 1, 2, ceil_mode=True), area=P, kind="valid edge"),
    same("avg_pool2d-ceil-no-pad-count", lambda L: ap2(L, X2, 3, 2, 1, ceil_mode=True, count_include_pad=False), area=P, kind="valid edge"),
    same("avg_pool2d-divisor-override", lambda L: ap2(L, X2, 2, divisor_override=3), area=P, kind="valid edge"),
    same("max_pool2d-int-input", lambda L: mp2(L, ints(1, 2, 4, 4, high=9), 2), area=P, kind="int input"),
    same("adaptive_avg_pool2d-none-size", lambda L: L.F.adaptive_avg_pool2d(L.A(X2), (None, 3)), area=P, kind="valid edge"),
    same("adaptive_avg_pool2d-larger-output", lambda L: L.F.adaptive_avg_pool2d(L.A(rnd(1, 2, 3, 3)), 5), area=P, kind="valid edge"),
    same("adaptive_max_pool1d-indices", lambda L: L.F.adaptive_max_pool1d(L.A(X1), 4, return_indices=True), area=P, kind="valid edge"),
    same("adaptive_avg_pool2d-zero-output", lambda L: L.F.adaptive_avg_pool2d(L.A(X2), 0), area=P, kind="zero size"),
    same("max_unpool2d-roundtrip", lambda L: L.F.max_unpool2d(*mp2(L, X2, 2, return_indices=True), 2), area=P, kind="valid edge"),
    # sizes
    err("max_pool2d-kernel-zero", lambda L: mp2(L, X2, 0), (RuntimeError, ValueError), r"(?i)kernel.*(greater than zero|0)", area=P, kind="zero size"),
    err("max_pool2d-stride-zero", lambda L: mp2(L, X2, 2, 0), (RuntimeError, ValueError), r"(?i)stride.*(greater than zero|0)", area=P, kind="zero size"),
    err("max_pool2d-dilation-zero", lambda L: mp2(L, X2, 2, 1, 0, 0), (RuntimeError, ValueError), r"(?i)dilation.*(greater than zero|0)", area=P, kind="zero size"),
    err("max_pool2d-kernel-negative", lambda L: mp2(L, X2, -2), (RuntimeError, ValueError), r"(?i)kernel.*-2", area=P, kind="negative size"),
    err("max_pool2d-padding-negative", lambda L: mp2(L, X2, 3, 1, -1), (RuntimeError, ValueError), r"(?i)pad.*-1", area=P, kind="negative size"),
    err("max_pool2d-padding-gt-half-kernel", lambda L: mp2(L, X2, 2, 1, 2), (RuntimeError, ValueError), r"(?i)pad.*half.*kernel", area=P, kind="too large padding"),
    err("avg_pool2d-padding-gt-half-kernel", lambda L: ap2(L, X2, 3, 1, 2), (RuntimeError, ValueError), r"(?i)pad.*half.*kernel", area=P, kind="too large padding"),
    err("avg_pool1d-padding-gt-half-kernel", lambda L: L.F.avg_pool1d(L.A(X1), 2, 1, 2), (RuntimeError, ValueError), r"(?i)pad.*half.*kernel", area=P, kind="too large padding"),
    err("max_pool2d-kernel-larger-than-input", lambda L: mp2(L, rnd(1, 1, 2, 2), 3), RuntimeError, r"(?i)output size.*too small", area=P, kind="too small input"),
    err("avg_pool2d-kernel-larger-than-input", lambda L: ap2(L, rnd(1, 1, 2, 2), 3), RuntimeError, r"(?i)output size.*too small", area=P, kind="too small input"),
    err("avg_pool2d-divisor-zero", lambda L: ap2(L, X2, 2, divisor_override=0), (RuntimeError, ValueError), r"(?i)divisor.*0", area=P, kind="zero size"),
    err("max_pool2d-kernel-wrong-length", lambda L: mp2(L, X2, (2, 2, 2)), (RuntimeError, ValueError, TypeError), r"(?i)kernel_size", area=P, kind="wrong length"),
    err("max_pool2d-kernel-float", lambda L: mp2(L, X2, 2.5), (TypeError, ValueError, RuntimeError), r"(?i)kernel_size", area=P, kind="wrong type"),
    err("lp_pool2d-kernel-zero", lambda L: L.F.lp_pool2d(L.A(X2), 2.0, 0), (RuntimeError, ValueError), r"(?i)kernel", area=P, kind="zero size"),
    # rank
    err("max_pool2d-2d-input", lambda L: mp2(L, rnd(4, 4), 2), (RuntimeError, ValueError), r"(?i)3D.*4D|input", area=P, kind="wrong rank"),
    err("max_pool1d-4d-input", lambda L: L.F.max_pool1d(L.A(X2), 2), (RuntimeError, ValueError), r"(?i)2D.*3D|input", area=P, kind="wrong rank"),
    err("avg_pool2d-5d-input", lambda L: ap2(L, rnd(1, 1, 2, 4, 4), 2), (RuntimeError, ValueError), r"(?i)3D.*4D|input", area=P, kind="wrong rank"),
    err("adaptive_avg_pool2d-2d-input", lambda L: L.F.adaptive_avg_pool2d(L.A(rnd(4, 4)), 2), (RuntimeError, ValueError), r"(?i)3D.*4D|input", area=P, kind="wrong rank"),
    err("adaptive_max_pool1d-4d-input", lambda L: L.F.adaptive_max_pool1d(L.A(X2), 2), (RuntimeError, ValueError), r"(?i)2D.*3D|input|dim", area=P, kind="wrong rank"),
    err("max_pool2d-empty-spatial", lambda L: mp2(L, np.zeros((1, 2, 0, 4), np.float32), 1), RuntimeError, r"(?i)empty|non-batch|size", area=P, kind="empty input"),
    # adaptive sizes
    err("adaptive_avg_pool2d-negative-size", lambda L: L.F.adaptive_avg_pool2d(L.A(X2), -1), (RuntimeError, ValueError), r"(?i)output_size.*(-1|greater than or equal)", area=P, kind="negative size"),
    err("adaptive_max_pool2d-wrong-length", lambda L: L.F.adaptive_max_pool2d(L.A(X2), (2, 2, 2)), (RuntimeError, ValueError), r"(?i)output_size", area=P, kind="wrong length"),
    err("adaptive_avg_pool2d-none", lambda L: L.F.adaptive_avg_pool2d(L.A(X2), None), (TypeError, RuntimeError, ValueError), r"(?i)output_size", area=P, kind="wrong type"),
    err("adaptive_max_pool3d-none", lambda L: L.F.adaptive_max_pool3d(L.A(rnd(1, 2, 3, 3, 3)), None), (TypeError, RuntimeError, ValueError), r"(?i)output_size.*None", area=P, kind="wrong type"),
    err("adaptive_avg_pool1d-empty-spatial", lambda L: L.F.adaptive_avg_pool1d(L.A(np.zeros((1, 2, 0), np.float32)), 2), (RuntimeError, ValueError), r"(?i)non-zero size|empty", area=P, kind="empty input"),
    # dtypes
    # int32 on both sides: torch 2.13 averages int64 but not int32 ('not implemented for Int')
    err("avg_pool2d-int-input", lambda L: ap2(L, ints(1, 2, 4, 4, high=9).astype(np.int32), 2), TypeError, r"avg_pool2d: input dtype int32", area=P, kind="int input"),
    err("adaptive_avg_pool2d-int-input", lambda L: L.F.adaptive_avg_pool2d(L.A(ints(1, 2, 4, 4, high=9)), 2), (TypeError, RuntimeError), r"(?i)dtype|int|float", area=P, kind="int input"),
    err("adaptive_max_pool2d-int-input", lambda L: L.F.adaptive_max_pool2d(L.A(ints(1, 2, 4, 4, high=9)), 2), (TypeError, RuntimeError), r"(?i)input.*dtype int", area=P, kind="int input"),
    err("adaptive_avg_pool1d-bool-input", lambda L: L.F.adaptive_avg_pool1d(L.A(rnd(1, 2, 4) > 0), 2), (TypeError, RuntimeError), r"(?i)input.*dtype bool", area=P, kind="bool input"),
    err("max_pool2d-bool-input", lambda L: mp2(L, X2 > 0, 2), TypeError, r"max_pool2d: input dtype bool", area=P, kind="bool input"),
    # unpool
    err("max_unpool2d-indices-shape", lambda L: L.F.max_unpool2d(L.A(rnd(1, 2, 2, 2)), L.A(np.zeros((1, 2, 2, 1), np.int64)), 2), RuntimeError, r"(?i)shape of indices", area=P, kind="wrong shape"),
    err("max_unpool2d-float-indices", lambda L: L.F.max_unpool2d(L.A(rnd(1, 2, 2, 2)), L.A(np.zeros((1, 2, 2, 2), np.float32)), 2), RuntimeError, r"(?i)indices.*int64|int", area=P, kind="float indices"),
    err("max_unpool2d-bad-output-size", lambda L: L.F.max_unpool2d(L.A(rnd(1, 2, 2, 2)), L.A(np.zeros((1, 2, 2, 2), np.int64)), 2, output_size=(9, 9)), (RuntimeError, ValueError), r"(?i)output_size", area=P, kind="wrong size"),
    err("max_unpool2d-2d-input", lambda L: L.F.max_unpool2d(L.A(rnd(2, 2)), L.A(np.zeros((2, 2), np.int64)), 2), (RuntimeError, ValueError), r"(?i)3d or 4d|input", area=P, kind="wrong rank"),
]

CASES = CONV + POOL


@pytest.mark.parametrize("case", params(CASES))
def test_case(case):
    check_case(case)


# Valid calls that once aborted the whole Python process (an XLA CHECK failure in its
# convolution-operand swap while compiling; see _conv_cpu._swap_abort), so they run in a
# child process. Found by test_properties.py's "long" profile.
_ABORT_CALLS = {
    "dilated": dict(x=(1, 1, 2, 4), w=(1, 1, 3, 2), stride=(2, 2), padding=(0, 1), dilation=(2, 1)),
    "padded": dict(x=(1, 1, 1, 3), w=(1, 2, 3, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 1)),
}
_ABORT_CODE = """
import json, sys, numpy as np, jax.numpy as jnp, jaxnn.functional as F
c = json.loads(sys.argv[1])
x = jnp.asarray(np.arange(np.prod(c["x"]), dtype=np.float32).reshape(c["x"]))
w = jnp.asarray(np.linspace(-1, 1, int(np.prod(c["w"])), dtype=np.float32).reshape(c["w"]))
y = F.conv_transpose2d(x, w, stride=tuple(c["stride"]), padding=tuple(c["padding"]), dilation=tuple(c["dilation"]))
print(json.dumps(np.asarray(y).tolist()))
"""


@pytest.mark.parametrize("which", list(_ABORT_CALLS))
def test_conv_transpose2d_valid_call_does_not_abort_the_process(which):
    c = _ABORT_CALLS[which]
    r = subprocess.run([sys.executable, "-c", _ABORT_CODE, json.dumps(c)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"the process died with return code {r.returncode}: {r.stderr[-1500:]}"
    x = torch.arange(int(np.prod(c["x"])), dtype=torch.float32).reshape(c["x"])
    w = torch.from_numpy(np.linspace(-1, 1, int(np.prod(c["w"])), dtype=np.float32).reshape(c["w"]))
    ref = torch.nn.functional.conv_transpose2d(x, w, stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
    np.testing.assert_allclose(np.array(json.loads(r.stdout)), ref.numpy(), rtol=1e-5, atol=1e-5)


# The same XLA bug, reached through the input gradient of an ordinary strided conv2d (JAX
# derives an input-dilated convolution for it): x (1,1,2,4), w (1,1,3,2), stride (1,2),
# padding 1 aborted in every formulation.
_GRAD_CODE = """
import json, numpy as np, jax, jax.numpy as jnp, jaxnn.functional as F
x = jnp.asarray(np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 1, 2, 4))
w = jnp.asarray(np.linspace(-1, 2, 6, dtype=np.float32).reshape(1, 1, 3, 2))
f = lambda x, w: jnp.sum(F.conv2d(x, w, stride=(1, 2), padding=1) ** 2)
print(json.dumps([np.asarray(g).tolist() for g in jax.grad(f, (0, 1))(x, w)]))
"""


def test_strided_conv2d_gradient_does_not_abort_the_process():
    r = subprocess.run([sys.executable, "-c", _GRAD_CODE], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"the process died with return code {r.returncode}: {r.stderr[-1500:]}"
    x = torch.linspace(-1, 1, 8).reshape(1, 1, 2, 4).requires_grad_()
    w = torch.linspace(-1, 2, 6).reshape(1, 1, 3, 2).requires_grad_()
    (torch.nn.functional.conv2d(x, w, stride=(1, 2), padding=1) ** 2).sum().backward()
    gx, gw = (np.array(g) for g in json.loads(r.stdout))
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-5, atol=1e-5)
