"""MultiheadAttention against torch.nn.MultiheadAttention.

torch's MHA "fast path" (``torch._native_multi_head_attention``) only runs in eval mode
without gradients; the parity harness always asks for gradients, but the fixture below
also switches it off so that every comparison is against torch's reference computation.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxnn as nn
from tests.parity import assert_close, check_module, randn

E, H, L, S, N = 8, 2, 5, 7, 3


@pytest.fixture(autouse=True)
def _no_fastpath():
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(before)


def bool_mask(*shape, seed=0):
    """A random boolean mask (True = ignored) that leaves key 0 visible to every query."""
    m = np.random.default_rng(seed).random(shape) > 0.6
    m[..., 0] = False
    return m


def float_mask(*shape, seed=0):
    return (0.5 * randn(*shape, seed=seed)).astype(np.float32)


# The harness compares one array or a tuple of arrays; these wrappers (same name and
# children on both sides) run self-attention with one tensor and/or keep only the output
# when the weights are None.
class TorchWrap(torch.nn.Module):
    def __init__(self, m, self_attn=False, first=False):
        super().__init__()
        self.m = m
        self.self_attn = self_attn
        self.first = first

    def _get_name(self):
        return "Wrap"

    def forward(self, *args, **kwargs):
        if self.self_attn:
            args = (args[0], args[0], args[0])
        out = self.m(*args, **kwargs)
        return out[0] if self.first else out


class JaxWrap(nn.Module):
    def __init__(self, m, self_attn=False, first=False):
        super().__init__()
        self.m = m
        self.self_attn = self_attn
        self.first = first

    def _get_name(self):
        return "Wrap"

    def forward(self, *args, **kwargs):
        if self.self_attn:
            args = (args[0], args[0], args[0])
        out = self.m(*args, **kwargs)
        return out[0] if self.first else out


def qkv(batched=True, batch_first=False, kdim=E, vdim=E, dtype=np.float32):
    def shape(seq, dim):
        if not batched:
            return (seq, dim)
        return (N, seq, dim) if batch_first else (seq, N, dim)

    return [
        randn(*shape(L, E), seed=1, dtype=dtype),
        randn(*shape(S, kdim), seed=2, dtype=dtype),
        randn(*shape(S, vdim), seed=3, dtype=dtype),
    ]


CAUSAL = np.triu(np.full((L, L), -np.inf, np.float32), 1)

# (id, constructor kwargs, input kwargs for qkv, forward kwargs, wrapper kwargs)
CASES = [
    ("default", {}, {}, {}, {}),
    ("batch_first", dict(batch_first=True), dict(batch_first=True), {}, {}),
    ("kdim_vdim", dict(kdim=4, vdim=6), dict(kdim=4, vdim=6), {}, {}),
    ("no_bias", dict(bias=False), {}, {}, {}),
    ("add_bias_kv", dict(add_bias_kv=True), {}, {}, {}),
    (
        "bias_kv_zero_attn_masks",
        dict(add_bias_kv=True, add_zero_attn=True, kdim=4, vdim=6),
        dict(kdim=4, vdim=6),
        dict(key_padding_mask=bool_mask(N, S, seed=4), attn_mask=bool_mask(L, S, seed=5)),
        {},
    ),
    ("bool_attn_mask_2d", {}, {}, dict(attn_mask=bool_mask(L, S)), {}),
    ("float_attn_mask_3d", {}, {}, dict(attn_mask=float_mask(N * H, L, S)), {}),
    ("bool_key_padding_mask", {}, {}, dict(key_padding_mask=bool_mask(N, S)), {}),
    (
        "float_masks",
        {},
        {},
        dict(key_padding_mask=float_mask(N, S, seed=6), attn_mask=float_mask(L, S, seed=7)),
        {},
    ),
    (
        "need_weights_false_masks",
        dict(add_bias_kv=True),
        {},
        dict(
            need_weights=False,
            key_padding_mask=bool_mask(N, S),
            attn_mask=bool_mask(N * H, L, S, seed=8),
        ),
        dict(first=True),
    ),
    (
        "per_head_weights",
        dict(num_heads=4),
        {},
        dict(average_attn_weights=False, attn_mask=bool_mask(L, S)),
        {},
    ),
    ("unbatched", {}, dict(batched=False), dict(key_padding_mask=bool_mask(S)), {}),
    (
        "unbatched_3d_mask_no_weights",
        dict(kdim=4, vdim=6),
        dict(batched=False, kdim=4, vdim=6),
        dict(need_weights=False, attn_mask=float_mask(H, L, S)),
        dict(first=True),
    ),
    ("self_attention", {}, {}, dict(attn_mask=bool_mask(L, L)), dict(self_attn=True)),
    (
        "self_attention_causal_hint",
        dict(batch_first=True),
        dict(batch_first=True),
        dict(need_weights=False, attn_mask=CAUSAL, is_causal=True),
        dict(self_attn=True, first=True),
    ),
    (
        "causal_hint_with_weights",
        {},
        {},
        dict(attn_mask=CAUSAL, is_causal=True),
        dict(self_attn=True),
    ),
]


@pytest.mark.parametrize("ctor, inp, fwd, wrap", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parity(ctor, inp, fwd, wrap):
    ctor = dict(ctor)
    heads = ctor.pop("num_heads", H)
    tmod = torch.nn.MultiheadAttention(E, heads, **ctor).eval()
    jmod = nn.MultiheadAttention(E, heads, **ctor)
    inputs = qkv(**inp)
    if wrap:
        tmod, jmod = TorchWrap(tmod, **wrap).eval(), JaxWrap(jmod, **wrap)
        if wrap.get("self_attn"):
            inputs = inputs[:1]
    check_module(tmod, jmod, inputs, fwd)


def test_parity_train_mode_without_dropout():
    # Training mode with dropout=0 is deterministic, so torch's numbers apply.
    tmod = torch.nn.MultiheadAttention(E, H, add_zero_attn=True).train()
    jmod = nn.MultiheadAttention(E, H, add_zero_attn=True)
    check_module(tmod, jmod, qkv(), dict(key_padding_mask=bool_mask(N, S)))


def test_float64(x64):
    tmod = torch.nn.MultiheadAttention(E, H).double().eval()
    jmod = nn.MultiheadAttention(E, H, dtype=jnp.float64)
    # float64 compiles every op afresh; jit is covered by the float32 cases.
    check_module(tmod, jmod, qkv(dtype=np.float64), dict(attn_mask=bool_mask(L, S)), jit=False)


def test_fully_masked_query_matches_torch():
    # torch: NaN from the explicit softmax (need_weights=True), zeros from SDPA otherwise.
    tmod = torch.nn.MultiheadAttention(E, H).eval()
    jmod = nn.MultiheadAttention(E, H)
    jmod.load_state_dict(tmod.state_dict())
    jmod.eval()
    q, k, v = qkv()
    kpm = np.zeros((N, S), bool)
    kpm[1] = True
    for need in (True, False):
        tout = tmod(
            *(torch.from_numpy(a) for a in (q, k, v)),
            key_padding_mask=torch.from_numpy(kpm),
            need_weights=need,
        )
        jout = jmod(q, k, v, key_padding_mask=kpm, need_weights=need)
        assert_close(jout[0], tout[0], rtol=1e-5, atol=1e-5, what=f"need_weights={need}")
        assert bool(jnp.isnan(jout[0][:, 1]).all()) == need


@pytest.mark.parametrize(
    "kwargs, keys",
    [
        ({}, ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]),
        (
            dict(kdim=4, vdim=6, add_bias_kv=True),
            [
                "q_proj_weight",
                "k_proj_weight",
                "v_proj_weight",
                "in_proj_bias",
                "bias_k",
                "bias_v",
                "out_proj.weight",
                "out_proj.bias",
            ],
        ),
        (dict(bias=False), ["in_proj_weight", "out_proj.weight"]),
    ],
    ids=["packed", "separate_bias_kv", "no_bias"],
)
def test_state_dict_keys(kwargs, keys):
    tkeys = list(torch.nn.MultiheadAttention(E, H, **kwargs).state_dict())
    assert tkeys == keys
    assert list(nn.MultiheadAttention(E, H, **kwargs).state_dict()) == tkeys


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(bias=False),
        dict(kdim=4, vdim=6, add_bias_kv=True, add_zero_attn=True, batch_first=True),
    ],
    ids=["default", "no_bias", "everything"],
)
def test_repr(kwargs):
    assert repr(nn.MultiheadAttention(E, H, **kwargs)) == repr(
        torch.nn.MultiheadAttention(E, H, **kwargs)
    )


def test_init_statistics():
    e = 256
    packed = nn.MultiheadAttention(e, 4, add_bias_kv=True)
    separate = nn.MultiheadAttention(e, 4, kdim=128, vdim=64)
    tpacked = torch.nn.MultiheadAttention(e, 4, add_bias_kv=True)

    def check_uniform(w, bound):
        w = np.asarray(w)
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.98 * bound
        assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound / math.sqrt(3)
        assert abs(w.mean()) < 0.02 * bound

    # Xavier-uniform: bound = sqrt(6 / (fan_in + fan_out)); (3E, E) packed.
    check_uniform(packed.in_proj_weight, math.sqrt(6 / (e + 3 * e)))
    check_uniform(tpacked.in_proj_weight.detach().numpy(), math.sqrt(6 / (e + 3 * e)))
    check_uniform(separate.q_proj_weight, math.sqrt(6 / (e + e)))
    check_uniform(separate.k_proj_weight, math.sqrt(6 / (e + 128)))
    check_uniform(separate.v_proj_weight, math.sqrt(6 / (e + 64)))
    # out_proj keeps Linear's default, U(-1/sqrt(E), 1/sqrt(E)); both biases are zero.
    check_uniform(packed.out_proj.weight, 1 / math.sqrt(e))
    assert not np.asarray(packed.in_proj_bias).any() and not np.asarray(packed.out_proj.bias).any()
    # Xavier-normal (1, 1, E): std = sqrt(2 / (E + E)); 2E samples -> a 10% band.
    both = np.concatenate([np.ravel(packed.bias_k), np.ravel(packed.bias_v)])
    assert abs(both.std() - math.sqrt(1 / e)) < 0.1 * math.sqrt(1 / e)
    assert packed.bias_k.shape == (1, 1, e) and packed.in_proj_weight.dtype == jnp.float32


def test_key_keyword_is_the_key_tensor():
    mha = nn.MultiheadAttention(E, H, kdim=4, vdim=6).eval()
    q, k, v = (jnp.asarray(a) for a in qkv(kdim=4, vdim=6))
    a = mha(q, k, v)
    b = mha(q, key=k, value=v)
    c, _ = nn.forward(mha, query=q, key=k, value=v)
    assert_close(b, a, rtol=0, atol=0)
    assert_close(c, a, rtol=0, atol=0)


def test_training_dropout_needs_a_key_and_is_deterministic():
    p = 0.5
    mha = nn.MultiheadAttention(E, H, dropout=p)
    q, k, v = (jnp.asarray(a) for a in qkv())
    with pytest.raises(ValueError, match=r"dropout_key=sub.*key, sub = jax\.random\.split\(key\)"):
        mha(q, k, v)
    k0, k1 = jax.random.key(0), jax.random.key(1)
    out0, w0 = mha(q, k, v, average_attn_weights=False, dropout_key=k0)
    again, _ = mha(q, k, v, average_attn_weights=False, dropout_key=k0)
    other, _ = mha(q, k, v, average_attn_weights=False, dropout_key=k1)
    assert_close(again, out0, rtol=0, atol=0)
    assert not np.allclose(np.asarray(other), np.asarray(out0))
    # Dropout acts on the attention weights: each is 0 or the eval weight / (1 - p).
    _, w_eval = mha.eval()(q, k, v, average_attn_weights=False)
    w0, w_eval = np.asarray(w0), np.asarray(w_eval)
    kept = w0 != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(w0[kept], w_eval[kept] / (1 - p), rtol=1e-5)
    # need_weights=False runs SDPA's dropout: deterministic per key as well, under jit
    # ("rbg" keys only because they compile faster than threefry on CPU).
    mha.train()
    r0, r1 = jax.random.key(0, impl="rbg"), jax.random.key(1, impl="rbg")
    f = jax.jit(lambda m, q, k, v, r: m(q, k, v, need_weights=False, dropout_key=r)[0])
    assert_close(f(mha, q, k, v, r0), f(mha, q, k, v, r0), rtol=0, atol=0)
    assert not np.allclose(np.asarray(f(mha, q, k, v, r0)), np.asarray(f(mha, q, k, v, r1)))


class Block(nn.Module):
    """A user module whose forward takes no key: the key reaches MHA through the scope."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, dropout=0.5)

    def forward(self, x):
        return self.attn(x, x, x)[0]


def test_key_reaches_attention_through_the_forward_scope():
    block = Block()
    x = jnp.asarray(qkv()[0])
    with pytest.raises(ValueError, match="dropout_key"):
        block(x)
    a = block(x, key=jax.random.key(3))
    b = block(x, key=jax.random.key(3))
    assert_close(a, b, rtol=0, atol=0)
    assert block.eval()(x).shape == (L, N, E)


@pytest.mark.parametrize(
    "ctor, match",
    [
        (dict(embed_dim=0, num_heads=2), "must be greater than 0"),
        (dict(embed_dim=8, num_heads=3), "divisible by num_heads"),
        (dict(embed_dim=8, num_heads=2, dropout=1.5), "dropout probability"),
        (dict(embed_dim=8, num_heads=2, kdim=0), "kdim"),
    ],
    ids=["zero_dim", "indivisible", "dropout", "kdim"],
)
def test_constructor_errors(ctor, match):
    with pytest.raises(ValueError, match=match):
        nn.MultiheadAttention(**ctor)


def test_forward_errors():
    mha = nn.MultiheadAttention(E, H).eval()
    q, k, v = (jnp.asarray(a) for a in qkv())
    with pytest.raises(ValueError, match="unbatched 2D or batched 3D"):
        mha(q[None], k[None], v[None])
    with pytest.raises(ValueError, match="expected `key` and `value` to be 3-D"):
        mha(q, k[0], v[0])
    with pytest.raises(RuntimeError, match="shape of the 2D attn_mask"):
        mha(q, k, v, attn_mask=jnp.zeros((L, L)))
    with pytest.raises(RuntimeError, match="shape of the 3D attn_mask"):
        mha(q, k, v, attn_mask=jnp.zeros((H, L, S)))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        mha(q, k, v, is_causal=True)
    with pytest.raises(TypeError, match="only bool and floating"):
        mha(q, k, v, attn_mask=jnp.zeros((L, S), jnp.int32))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(q, k, v, key_padding_mask=jnp.zeros((N, S + 1), bool))
    with pytest.raises(ValueError, match="was expecting embedding dimension"):
        mha(q[..., :4], k, v)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        mha(q, k, v, key_padding_mask=jnp.zeros((N, S), bool), attn_mask=jnp.zeros((L, S)))
