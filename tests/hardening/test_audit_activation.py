"""Bad-input audit: activations, the softmax family, linear and bilinear (see _audit.py)."""

import numpy as np
import pytest

from ._audit import check_case, err, ints, params, rnd, same

SPECIAL = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 30.0, -30.0, 1e-30]], np.float32)
INTS = np.array([[-2, 0, 3]], np.int64)
BOOLS = np.array([[True, False, True]])

# name -> call with torch's argument names (F is either side's functional namespace)
POINTWISE = {
    "relu": lambda F, x: F.relu(x),
    "relu6": lambda F, x: F.relu6(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.1),
    "elu": lambda F, x: F.elu(x),
    "selu": lambda F, x: F.selu(x),
    "celu": lambda F, x: F.celu(x, 0.5),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "silu": lambda F, x: F.silu(x),
    "mish": lambda F, x: F.mish(x),
    "sigmoid": lambda F, x: F.sigmoid(x),
    "tanh": lambda F, x: F.tanh(x),
    "hardtanh": lambda F, x: F.hardtanh(x, -2.0, 2.0),
    "hardsigmoid": lambda F, x: F.hardsigmoid(x),
    "hardswish": lambda F, x: F.hardswish(x),
    "softplus": lambda F, x: F.softplus(x),
    "softplus_beta": lambda F, x: F.softplus(x, beta=2.0, threshold=5.0),
    "softsign": lambda F, x: F.softsign(x),
    "softshrink": lambda F, x: F.softshrink(x, 0.5),
    "hardshrink": lambda F, x: F.hardshrink(x, 0.5),
    "tanhshrink": lambda F, x: F.tanhshrink(x),
    "threshold": lambda F, x: F.threshold(x, 0.5, -1.0),
    "logsigmoid": lambda F, x: F.logsigmoid(x),
    "softmax": lambda F, x: F.softmax(x, dim=-1),
    "log_softmax": lambda F, x: F.log_softmax(x, dim=-1),
    "softmin": lambda F, x: F.softmin(x, dim=-1),
}

# What torch 2.13 does with integer / bool inputs (probed): accepted -> same result kind.
INT_OK = {"relu", "relu6", "sigmoid", "tanh", "hardtanh", "softsign", "tanhshrink", "threshold"}
BOOL_OK = {"sigmoid", "tanh"}


def _dtype_cases():
    cases = []
    for name, call in POINTWISE.items():
        for what, data, ok in (("int", INTS, INT_OK), ("bool", BOOLS, BOOL_OK)):
            fn = lambda L, call=call, data=data: call(L.F, L.A(data))  # noqa: E731
            base = name.split("_beta")[0].split("_tanh")[0]
            if base in ok or name in ok:
                cases.append(same(f"{name}-{what}-input", fn, area="activations", kind=f"{what} input"))
            else:
                cases.append(
                    err(f"{name}-{what}-input", fn, (TypeError, ValueError), r"(?i)(dtype|float|bool|int)",
                        area="activations", kind=f"{what} input")
                )
    return cases


NAN_XFAIL = {}

CASES = [
    # NaN / inf propagate as in torch (values at +-inf and 30 exercise the saturating branches)
    *[
        same(f"{name}-nan-inf", lambda L, call=call: call(L.F, L.A(SPECIAL)), xfail=NAN_XFAIL.get(name),
             area="activations", kind="NaN/inf")
        for name, call in POINTWISE.items()
    ],
    # empty inputs are fine in torch
    *[
        same(f"{name}-empty", lambda L, call=call: call(L.F, L.A(np.zeros((0, 3), np.float32))),
             area="activations", kind="empty input")
        for name, call in POINTWISE.items()
    ],
    # 0-d inputs are fine in torch
    *[
        same(f"{name}-0d", lambda L, call=call: call(L.F, L.A(np.float32(-0.7))), area="activations", kind="0-d input")
        for name, call in POINTWISE.items()
    ],
    *_dtype_cases(),
    # torch casts float arguments to an integer input's dtype (toward zero) before comparing
    same("threshold-int-fractional-args", lambda L: L.F.threshold(L.A(np.arange(-3, 4)), -0.5, -7.5),
         area="activations", kind="int input"),
    same("hardtanh-int-fractional-bounds", lambda L: L.F.hardtanh(L.A(np.arange(-3, 4)), -1.5, 2.5),
         area="activations", kind="int input"),
    # invalid strings and parameter values
    err("gelu-approximate-bad", lambda L: L.F.gelu(L.A(rnd(3)), approximate="tan"), ValueError, r"approximate.*'tan'",
        area="activations", kind="invalid string"),
    err("gelu-approximate-None", lambda L: L.F.gelu(L.A(rnd(3)), approximate=None), (TypeError, ValueError), r"approximate.*None",
        area="activations", kind="invalid string"),
    err("softshrink-negative-lambd", lambda L: L.F.softshrink(L.A(rnd(3)), -0.5), ValueError, r"lambd.*-0\.5",
        area="activations", kind="negative size/param"),
    same("hardshrink-negative-lambd", lambda L: L.F.hardshrink(L.A(rnd(5)), -0.5), area="activations", kind="negative size/param"),
    err("celu-alpha-zero", lambda L: L.F.celu(L.A(rnd(3)), 0.0), (ValueError, ZeroDivisionError), r"alpha.*0",
        area="activations", kind="zero size/param"),
    err("hardtanh-min-gt-max", lambda L: L.F.hardtanh(L.A(rnd(3)), 2.0, -2.0), ValueError, r"min_val.*max_val",
        area="activations", kind="invalid range"),
    same("hardtanh-min-eq-max", lambda L: L.F.hardtanh(L.A(rnd(5)), 0.5, 0.5), area="activations", kind="invalid range"),
    same("leaky_relu-negative-slope-negative", lambda L: L.F.leaky_relu(L.A(rnd(5)), -0.3), area="activations", kind="negative size/param"),
    same("elu-alpha-negative", lambda L: L.F.elu(L.A(rnd(5)), -1.0), area="activations", kind="negative size/param"),
    same("softplus-beta-negative", lambda L: L.F.softplus(L.A(rnd(5)), beta=-1.0), area="activations", kind="negative size/param"),
    same("threshold-value-nan", lambda L: L.F.threshold(L.A(rnd(5)), 0.0, float("nan")), area="activations", kind="NaN/inf"),
    # prelu: weight count vs channels
    same("prelu-one-weight-any-rank", lambda L: L.F.prelu(L.A(rnd(2, 3, 4)), L.A(np.array([0.25], np.float32))), area="activations", kind="channel count"),
    same("prelu-per-channel", lambda L: L.F.prelu(L.A(rnd(2, 3, 4)), L.A(np.array([0.1, 0.2, 0.3], np.float32))), area="activations", kind="channel count"),
    same("prelu-0d-weight", lambda L: L.F.prelu(L.A(rnd(2, 3)), L.A(np.float32(0.2))), area="activations", kind="0-d input"),
    err("prelu-int-input", lambda L: L.F.prelu(L.A(ints(2, 3, high=3)), L.A(np.ones(1, np.int64))), (TypeError, RuntimeError), r"prelu.*input of dtype int|Long", area="activations", kind="int input"),
    err("prelu-int-weight", lambda L: L.F.prelu(L.A(rnd(2, 3)), L.A(np.ones(1, np.int64))), (TypeError, RuntimeError), r"prelu.*weight of dtype int|Type promoting", area="activations", kind="int input"),
    err("prelu-wrong-channel-count", lambda L: L.F.prelu(L.A(rnd(2, 3, 4)), L.A(np.ones(4, np.float32))), ValueError,
        r"channel size = 3.*4|4.*channel size = 3", area="activations", kind="channel count"),
    err("prelu-1d-input-many-weights", lambda L: L.F.prelu(L.A(rnd(3)), L.A(np.ones(3, np.float32))), ValueError,
        r"channel", area="activations", kind="channel count"),
    err("prelu-2d-weight", lambda L: L.F.prelu(L.A(rnd(2, 3)), L.A(np.ones((3, 1), np.float32))), ValueError,
        r"weight.*ndim = 2|weight.*1D", area="activations", kind="wrong rank"),
    # softmax family: dims
    err("softmax-dim-out-of-range", lambda L: L.F.softmax(L.A(rnd(2, 3)), dim=2), IndexError, r"(?i)dimension out of range.*\[-2, 1\].*2",
        area="activations", kind="dim out of range"),
    err("log_softmax-dim-out-of-range-neg", lambda L: L.F.log_softmax(L.A(rnd(2, 3)), dim=-3), IndexError, r"(?i)dimension out of range.*-3",
        area="activations", kind="dim out of range"),
    err("softmin-dim-out-of-range", lambda L: L.F.softmin(L.A(rnd(4)), dim=1), IndexError, r"(?i)dimension out of range",
        area="activations", kind="dim out of range"),
    same("softmax-0d-dim0", lambda L: L.F.softmax(L.A(np.float32(3.0)), dim=0), area="activations", kind="0-d input"),
    same("softmax-0d-dim-neg1", lambda L: L.F.softmax(L.A(np.float32(3.0)), dim=-1), area="activations", kind="0-d input"),
    err("softmax-0d-dim1", lambda L: L.F.softmax(L.A(np.float32(3.0)), dim=1), IndexError, r"(?i)dimension out of range",
        area="activations", kind="dim out of range"),
    same("softmax-implicit-dim-warns", lambda L: L.F.softmax(L.A(rnd(2, 3))), warns=UserWarning, area="activations", kind="implicit dim"),
    same("log_softmax-implicit-dim-3d", lambda L: L.F.log_softmax(L.A(rnd(2, 3, 4))), warns=UserWarning, area="activations", kind="implicit dim"),
    same("softmax-int-with-dtype", lambda L: L.F.softmax(L.A(INTS), dim=-1, dtype=L.dt("float32")),
         area="activations", kind="int input"),
    err("softmax-float-dim", lambda L: L.F.softmax(L.A(rnd(2, 3)), dim=1.0), (TypeError, IndexError), r"(?i)dim",
        area="activations", kind="wrong type"),
    same("softmax-all-neg-inf-row", lambda L: L.F.softmax(L.A(np.array([[-np.inf, -np.inf], [0.0, 1.0]], np.float32)), dim=-1),
         area="activations", kind="NaN/inf"),
    same("log_softmax-inf-entry", lambda L: L.F.log_softmax(L.A(np.array([[np.inf, 0.0], [0.0, 1.0]], np.float32)), dim=-1),
         area="activations", kind="NaN/inf"),
    # glu
    err("glu-odd-dim", lambda L: L.F.glu(L.A(rnd(2, 3)), dim=-1), (ValueError, RuntimeError), r"(?i)even|divisible|halve.*3",
        area="activations", kind="wrong size"),
    err("glu-0d", lambda L: L.F.glu(L.A(np.float32(1.0))), (ValueError, RuntimeError, IndexError), r"(?i)0-d|scalar|zero-dim|dimension",
        area="activations", kind="wrong rank"),
    err("glu-dim-out-of-range", lambda L: L.F.glu(L.A(rnd(2, 4)), dim=2), IndexError, r"(?i)dimension out of range",
        area="activations", kind="dim out of range"),
    same("glu-dim0", lambda L: L.F.glu(L.A(rnd(4, 3)), dim=0), area="activations", kind="valid edge"),
    same("glu-nan", lambda L: L.F.glu(L.A(np.concatenate([SPECIAL, SPECIAL], -1)), dim=-1), area="activations", kind="NaN/inf"),
    # linear
    same("linear-1d-input", lambda L: L.F.linear(L.A(rnd(3)), L.A(rnd(4, 3, seed=1)), L.A(rnd(4, seed=2))), area="linear", kind="unbatched input"),
    same("linear-3d-input", lambda L: L.F.linear(L.A(rnd(2, 5, 3)), L.A(rnd(4, 3, seed=1))), area="linear", kind="extra batch dims"),
    same("linear-1d-weight", lambda L: L.F.linear(L.A(rnd(2, 3)), L.A(rnd(3, seed=1))), area="linear", kind="valid edge"),
    same("linear-0-features", lambda L: L.F.linear(L.A(rnd(2, 0)), L.A(rnd(4, 0, seed=1)), L.A(rnd(4, seed=2))), area="linear", kind="zero size"),
    same("linear-empty-batch", lambda L: L.F.linear(L.A(rnd(0, 3)), L.A(rnd(4, 3, seed=1))), area="linear", kind="empty input"),
    same("linear-nan", lambda L: L.F.linear(L.A(SPECIAL[:, :3]), L.A(rnd(2, 3, seed=1))), area="linear", kind="NaN/inf"),
    same("linear-bias-broadcast-scalar", lambda L: L.F.linear(L.A(rnd(2, 3)), L.A(rnd(4, 3, seed=1)), L.A(np.float32(0.5))), area="linear", kind="valid edge"),
    err("linear-feature-mismatch", lambda L: L.F.linear(L.A(rnd(2, 5)), L.A(rnd(4, 3, seed=1))), (ValueError, TypeError),
        r"(?s)(input|in_features|shape).*5.*3|3.*5", area="linear", kind="feature count"),
    err("linear-0d-input", lambda L: L.F.linear(L.A(np.float32(1.0)), L.A(rnd(4, 3))), (ValueError, TypeError),
        r"(?i)at least 1D.*0D", area="linear", kind="wrong rank"),
    err("linear-3d-weight", lambda L: L.F.linear(L.A(rnd(2, 3)), L.A(rnd(4, 3, 1))), (ValueError, TypeError),
        r"(?i)weight.*(2-d|2D|dim|shape)", area="linear", kind="wrong rank"),
    err("linear-bias-wrong-size", lambda L: L.F.linear(L.A(rnd(2, 3)), L.A(rnd(4, 3)), L.A(rnd(5))), (ValueError, TypeError),
        r"(?i)bias.*5|5.*bias", area="linear", kind="feature count"),
    err("linear-int-input-float-weight", lambda L: L.F.linear(L.A(INTS), L.A(rnd(4, 3))), (TypeError, ValueError),
        r"(?i)dtype|same type|int", area="linear", kind="int input"),
    err("linear-float16-input-float32-weight", lambda L: L.F.linear(L.A(rnd(2, 3, dtype=np.float16)), L.A(rnd(4, 3))),
        (TypeError, ValueError), r"(?i)dtype.*float16|float16.*dtype", area="linear", kind="dtype mismatch"),
    # bilinear
    same("bilinear-ok", lambda L: L.F.bilinear(L.A(rnd(2, 3)), L.A(rnd(2, 4, seed=1)), L.A(rnd(5, 3, 4, seed=2)), L.A(rnd(5, seed=3))), area="linear", kind="valid edge"),
    same("bilinear-extra-batch-dims", lambda L: L.F.bilinear(L.A(rnd(2, 6, 3)), L.A(rnd(2, 6, 4, seed=1)), L.A(rnd(5, 3, 4, seed=2))), area="linear", kind="extra batch dims"),
    err("bilinear-batch-mismatch", lambda L: L.F.bilinear(L.A(rnd(2, 3)), L.A(rnd(3, 4)), L.A(rnd(5, 3, 4))), (ValueError, TypeError),
        r"(?i)batch|input1.*input2|shape", area="linear", kind="batch mismatch"),
    err("bilinear-in1-mismatch", lambda L: L.F.bilinear(L.A(rnd(2, 2)), L.A(rnd(2, 4)), L.A(rnd(5, 3, 4))), (ValueError, TypeError),
        r"(?i)input1.*(2|3)", area="linear", kind="feature count"),
    err("bilinear-in2-mismatch", lambda L: L.F.bilinear(L.A(rnd(2, 3)), L.A(rnd(2, 2)), L.A(rnd(5, 3, 4))), (ValueError, TypeError),
        r"(?i)input2.*(2|4)", area="linear", kind="feature count"),
    err("bilinear-weight-2d", lambda L: L.F.bilinear(L.A(rnd(2, 3)), L.A(rnd(2, 4)), L.A(rnd(3, 4))), (ValueError, TypeError),
        r"(?i)weight.*(3|dim|shape)", area="linear", kind="wrong rank"),
    err("bilinear-bias-wrong-size", lambda L: L.F.bilinear(L.A(rnd(2, 3)), L.A(rnd(2, 4)), L.A(rnd(5, 3, 4)), L.A(rnd(4))), (ValueError, TypeError),
        r"(?i)bias", area="linear", kind="feature count"),
]


@pytest.mark.parametrize("case", params(CASES))
def test_case(case):
    check_case(case)
