"""Transformer layers and stacks against torch.nn's.

torch's inference fast paths (``torch._transformer_encoder_layer_fwd``, the nested-tensor
"sparsity fast path" of TransformerEncoder) run only in eval mode without gradients; the
fixture below switches them off so that every comparison is against torch's reference
computation (the nested-tensor path returns zeros at padded positions).
"""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxnn as nn
import jaxnn.functional as F
from tests.parity import assert_close, check_module, randn

D, H, FF, S, T, N = 8, 2, 16, 5, 4, 3


@pytest.fixture(autouse=True)
def _no_fastpath():
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(before)


def torch_encoder(layer, num_layers, **kwargs):
    # torch warns that its nested-tensor fast path is off for these layers; not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.nn.TransformerEncoder(layer, num_layers, **kwargs)


def torch_transformer(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.nn.Transformer(**kwargs)


def seq(length, batched=True, batch_first=False, seed=0):
    if not batched:
        return randn(length, D, seed=seed)
    return randn(N, length, D, seed=seed) if batch_first else randn(length, N, D, seed=seed)


def padding(length, seed=0):
    m = np.random.default_rng(seed).random((N, length)) > 0.6
    m[:, 0] = False  # every query keeps one key: no fully masked rows
    return m


def causal(length):
    return np.asarray(nn.Transformer.generate_square_subsequent_mask(length))


def bool_causal(length):
    return np.triu(np.ones((length, length), bool), 1)


# ---------------------------------------------------------------------------- layers

# (id, constructor kwargs, input kwargs, forward kwargs, jit). A jitted gradient costs a
# few seconds of XLA compilation per case on CPU, so jit runs on the cases whose pytree
# differs (module or function activation, bias=False), not on every mask variant.
ENCODER_LAYER_CASES = [
    ("post_norm_relu_padding", {}, {}, dict(src_key_padding_mask=padding(S)), True),
    (
        "pre_norm_gelu_causal_hint",
        dict(norm_first=True, activation="gelu"),
        {},
        dict(src_mask=causal(S), is_causal=True),
        False,
    ),
    (
        "batch_first_3d_mask",
        dict(batch_first=True),
        dict(batch_first=True),
        dict(src_mask=np.broadcast_to(bool_causal(S), (N * H, S, S)).copy()),
        False,
    ),
    (
        "gelu_module_no_bias",
        dict(activation=(torch.nn.GELU, nn.GELU), bias=False, layer_norm_eps=1e-3),
        {},
        dict(src_mask=bool_causal(S), src_key_padding_mask=padding(S)),
        True,
    ),
    (
        "callable_activation_unbatched",
        dict(activation=(torch.tanh, F.tanh)),
        dict(batched=False),
        {},
        True,
    ),
]


def split_lib(kwargs, index):
    """Constructor kwargs for one library: (torch_value, jaxnn_value) pairs pick one side."""
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, tuple):
            v = v[index]
            if isinstance(v, type):
                v = v()
        out[k] = v
    return out


@pytest.mark.parametrize(
    "ctor, inp, fwd, jit",
    [c[1:] for c in ENCODER_LAYER_CASES],
    ids=[c[0] for c in ENCODER_LAYER_CASES],
)
def test_encoder_layer(ctor, inp, fwd, jit):
    tmod = torch.nn.TransformerEncoderLayer(D, H, FF, **split_lib(ctor, 0)).eval()
    jmod = nn.TransformerEncoderLayer(D, H, FF, **split_lib(ctor, 1))
    check_module(tmod, jmod, [seq(S, **inp)], fwd, jit=jit)


def test_encoder_layer_train_mode_without_dropout():
    tmod = torch.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0).train()
    jmod = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0)
    check_module(tmod, jmod, [seq(S)], dict(src_key_padding_mask=padding(S)))


DECODER_LAYER_CASES = [
    (
        "post_norm_unbatched_causal_hint",
        {},
        dict(batched=False),
        dict(
            tgt_mask=causal(T),
            tgt_is_causal=True,
            memory_key_padding_mask=padding(S)[0].astype(np.float32),
        ),
        False,
    ),
    (
        "pre_norm_gelu_batch_first",
        dict(norm_first=True, activation="gelu", batch_first=True),
        dict(batch_first=True),
        dict(
            tgt_mask=bool_causal(T),
            memory_mask=np.random.default_rng(1).random((T, S)) > 0.7,
            tgt_key_padding_mask=padding(T),
        ),
        True,
    ),
]


@pytest.mark.parametrize(
    "ctor, inp, fwd, jit",
    [c[1:] for c in DECODER_LAYER_CASES],
    ids=[c[0] for c in DECODER_LAYER_CASES],
)
def test_decoder_layer(ctor, inp, fwd, jit):
    tmod = torch.nn.TransformerDecoderLayer(D, H, FF, **ctor).eval()
    jmod = nn.TransformerDecoderLayer(D, H, FF, **ctor)
    check_module(tmod, jmod, [seq(T, seed=1, **inp), seq(S, seed=2, **inp)], fwd, jit=jit)


# ---------------------------------------------------------------------------- stacks


@pytest.mark.parametrize(
    "ctor, batch_first, fwd",
    [
        (
            {},
            False,
            dict(mask=causal(S), src_key_padding_mask=padding(S).astype(np.float32) * -1e4),
        ),
        (
            dict(norm_first=True, activation="gelu", batch_first=True),
            True,
            dict(src_key_padding_mask=padding(S)),
        ),
    ],
    ids=["post_norm_float_masks", "pre_norm_gelu_batch_first"],
)
def test_encoder(ctor, batch_first, fwd):
    tmod = torch_encoder(
        torch.nn.TransformerEncoderLayer(D, H, FF, **ctor), 2, norm=torch.nn.LayerNorm(D)
    ).eval()
    jmod = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, H, FF, **ctor), 2, norm=nn.LayerNorm(D)
    )
    # jax.jit of a whole stack's gradient compiles for ~10 s on CPU; the layers are
    # checked under jit above and the stacks' jitted forward in test_transformer.
    check_module(tmod, jmod, [seq(S, batch_first=batch_first)], fwd, jit=False)


def test_decoder():
    tmod = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(D, H, FF, norm_first=True), 2
    ).eval()
    jmod = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, FF, norm_first=True), 2)
    fwd = dict(
        tgt_mask=bool_causal(T), tgt_key_padding_mask=padding(T), memory_key_padding_mask=padding(S)
    )
    check_module(tmod, jmod, [seq(T, seed=1), seq(S, seed=2)], fwd, jit=False)  # see test_encoder


def test_transformer():
    # The layer variants (pre-norm, gelu, batch_first, ...) are covered above; one full
    # model checks the wiring of encoder, decoder, memory and every mask argument.
    kw = dict(d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF)
    tmod = torch_transformer(**kw).eval()
    jmod = nn.Transformer(**kw)
    fwd = dict(
        src_mask=bool_causal(S),
        tgt_mask=bool_causal(T),
        memory_mask=np.random.default_rng(1).random((T, S)) > 0.7,
        src_key_padding_mask=padding(S),
        tgt_key_padding_mask=padding(T),
        memory_key_padding_mask=padding(S),
    )
    src, tgt = seq(S), seq(T, seed=1)
    # Eager parity of outputs and every gradient (a jitted gradient of the whole model
    # compiles for ~10 s on CPU), then the jitted forward against the same numbers.
    out = check_module(tmod, jmod, [src, tgt], fwd, jit=False)
    jitted = jax.jit(lambda m, s, t: m(s, t, **fwd))(jmod, src, tgt)
    assert_close(jitted, out, rtol=1e-5, atol=1e-5, what="jit output")


def test_float64(x64):
    tmod = torch.nn.TransformerEncoderLayer(D, H, FF, norm_first=True).double().eval()
    jmod = nn.TransformerEncoderLayer(D, H, FF, norm_first=True, dtype=jnp.float64)
    # jit and gradients are covered in float32 (and float64 gradients in test_attention);
    # here the point is the float64 forward at 1e-10, which compiles every op afresh.
    x = seq(S).astype(np.float64)
    check_module(
        tmod, jmod, [x], dict(src_mask=causal(S).astype(np.float64)), jit=False, grad=False
    )


# ---------------------------------------------------------------------------- structure


def test_state_dict_keys_and_repr():
    kw = dict(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=FF)
    tmod, jmod = torch_transformer(**kw), nn.Transformer(**kw)
    assert list(jmod.state_dict()) == list(tmod.state_dict())
    assert repr(jmod) == repr(tmod)
    for ctor in ({}, dict(activation="gelu", bias=False)):
        t = torch.nn.TransformerDecoderLayer(D, H, FF, **ctor)
        j = nn.TransformerDecoderLayer(D, H, FF, **ctor)
        assert repr(j) == repr(t) and list(j.state_dict()) == list(t.state_dict())
    # An activation module is a child (printed last, its parameters in state_dict).
    t = torch.nn.TransformerEncoderLayer(D, H, FF, activation=torch.nn.PReLU())
    j = nn.TransformerEncoderLayer(D, H, FF, activation=nn.PReLU())
    assert repr(j) == repr(t) and list(j.state_dict()) == list(t.state_dict())
    assert "activation.weight" in j.state_dict()
    # A function is configuration: not printed, no parameters.
    assert "activation" not in repr(nn.TransformerEncoderLayer(D, H, FF, activation="gelu"))
    enc_t = torch_encoder(torch.nn.TransformerEncoderLayer(D, H, FF), 3, norm=torch.nn.LayerNorm(D))
    enc_j = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF), 3, norm=nn.LayerNorm(D))
    assert repr(enc_j) == repr(enc_t)
    assert list(enc_j.state_dict()) == list(enc_t.state_dict())


def test_stack_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(D, H, FF)
    enc = nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0], enc.layers[1]
    assert a is not layer and b is not layer and a is not b
    assert_close(a.linear1.weight, layer.linear1.weight, rtol=0, atol=0)
    assert_close(b.self_attn.in_proj_weight, a.self_attn.in_proj_weight, rtol=0, atol=0)
    # Two sets of parameters (none deduplicated), which train apart.
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))
    a.linear1.weight = jnp.zeros_like(a.linear1.weight)
    assert bool(b.linear1.weight.any()) and bool(layer.linear1.weight.any())
    grads = jax.grad(
        lambda m: jnp.sum(m.layers[0].linear1.weight) + 2 * jnp.sum(m.layers[1].linear1.weight)
    )(enc)
    assert float(grads.layers[0].linear1.weight[0, 0]) == 1.0
    assert float(grads.layers[1].linear1.weight[0, 0]) == 2.0


def test_init_statistics():
    d, ff = 128, 256
    model = nn.Transformer(d, 4, 1, 1, ff)
    tmodel = torch_transformer(
        d_model=d, nhead=4, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=ff
    )

    def check_uniform(w, bound):
        w = np.asarray(w)
        assert bound * 0.97 < np.abs(w).max() <= bound
        assert abs(w.std() - bound / math.sqrt(3)) < 0.04 * bound / math.sqrt(3)

    # torch re-initialises every parameter with ndim > 1 Xavier-uniform.
    for lib_model in (model, tmodel):
        sd = {
            k: (v.detach().numpy() if hasattr(v, "detach") else v)
            for k, v in lib_model.state_dict().items()
        }
        check_uniform(sd["encoder.layers.0.linear1.weight"], math.sqrt(6 / (d + ff)))
        check_uniform(
            sd["decoder.layers.0.multihead_attn.in_proj_weight"], math.sqrt(6 / (d + 3 * d))
        )
        check_uniform(sd["decoder.layers.0.self_attn.out_proj.weight"], math.sqrt(6 / (d + d)))
        assert (sd["encoder.norm.weight"] == 1).all() and not sd[
            "decoder.layers.0.norm3.bias"
        ].any()
        assert not sd["encoder.layers.0.self_attn.in_proj_bias"].any()
    # A plain layer keeps Linear's default for the feed-forward weights: U(±1/sqrt(fan_in)).
    check_uniform(nn.TransformerEncoderLayer(d, 4, ff).linear2.weight, 1 / math.sqrt(ff))


def test_decoder_stack_uses_its_activation_module():
    # torch's deep copy turns a decoder layer's module activation into F.relu (while still
    # printing it); jaxnn keeps the module: GELU() computes what 'gelu' computes.
    by_name = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(D, H, FF, activation="gelu"), 1
    ).eval()
    by_module = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(D, H, FF, activation=nn.GELU()), 1
    ).eval()
    by_module.load_state_dict(by_name.state_dict())
    tgt, mem = jnp.asarray(seq(T)), jnp.asarray(seq(S, seed=1))
    assert_close(by_module(tgt, mem), by_name(tgt, mem), rtol=1e-6, atol=1e-6)
    assert "(activation): GELU(approximate='none')" in repr(by_module)


def test_custom_encoder_is_reinitialised_in_place():
    custom = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF), 1)
    before = custom.layers[0].linear1.weight
    model = nn.Transformer(D, H, num_decoder_layers=1, dim_feedforward=FF, custom_encoder=custom)
    assert model.encoder is custom
    assert not np.allclose(np.asarray(custom.layers[0].linear1.weight), np.asarray(before))


def test_generate_square_subsequent_mask():
    got = nn.Transformer.generate_square_subsequent_mask(4)
    want = torch.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(np.asarray(got), want.numpy())
    assert got.dtype == jnp.float32


# ---------------------------------------------------------------------------- randomness


def rbg_key(seed):
    # Any JAX key works; "rbg" keys compile ~4x faster than threefry under jit on CPU,
    # which keeps these tests within budget.
    return jax.random.key(seed, impl="rbg")


def test_training_dropout_needs_a_key_and_is_deterministic():
    layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.5)
    x = jnp.asarray(seq(S))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        layer(x)
    k0, k1 = rbg_key(0), rbg_key(1)
    step = jax.jit(lambda m, x, k: m(x, key=k))
    a, b, c = step(layer, x, k0), step(layer, x, k0), step(layer, x, k1)
    assert_close(b, a, rtol=0, atol=0)
    assert not np.allclose(np.asarray(c), np.asarray(a))
    # A Sequential hands its key down (the layer is a child with random parts).
    seq_step = jax.jit(lambda m, x, k: m(x, key=k))
    assert not np.allclose(
        np.asarray(seq_step(nn.Sequential(layer), x, k0)), np.asarray(layer.eval()(x))
    )
    # eval mode: no key needed, and a key changes nothing.
    assert_close(layer(x, key=k0), layer(x), rtol=0, atol=0)


class Wrapper(nn.Module):
    """A user module whose forward takes no key: the key reaches the model via the scope."""

    def __init__(self):
        super().__init__()
        self.model = nn.Transformer(D, H, 1, 1, FF, dropout=0.5)

    def forward(self, src, tgt):
        return self.model(src, tgt)


def test_transformer_training_key_through_scope():
    w = Wrapper()
    src, tgt = jnp.asarray(seq(S)), jnp.asarray(seq(T, seed=1))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        w(src, tgt)
    step = jax.jit(lambda w, s, t, k: w(s, t, key=k))
    a, b, c = (step(w, src, tgt, rbg_key(i)) for i in (0, 0, 1))
    assert_close(a, b, rtol=0, atol=0)
    assert a.shape == (T, N, D) and not np.allclose(np.asarray(a), np.asarray(c))


# ---------------------------------------------------------------------------- errors


def test_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(D, H, activation="tanh")
    with pytest.raises(TypeError, match="activation must be"):
        nn.TransformerDecoderLayer(D, H, activation=3)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.TransformerEncoderLayer(D, 3)
    with pytest.raises(ValueError, match="dropout probability"):
        nn.TransformerDecoderLayer(D, H, dropout=2.0)
    with pytest.raises(ValueError, match="num_layers"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF), 0)
    with pytest.raises(TypeError, match="jaxnn Module"):
        nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, H, FF), 1)
    model = nn.Transformer(D, H, 1, 1, FF).eval()
    with pytest.raises(RuntimeError, match="batch number of src and tgt"):
        model(jnp.ones((S, N, D)), jnp.ones((T, N + 1, D)))
    with pytest.raises(RuntimeError, match="feature number"):
        model(jnp.ones((S, N, D)), jnp.ones((T, N, D + 1)))
    layer = nn.TransformerEncoderLayer(D, H, FF).eval()
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        layer(jnp.ones((S, N, D)), is_causal=True)
    with pytest.warns(UserWarning, match="mismatched src_key_padding_mask and src_mask"):
        layer(
            jnp.ones((S, N, D)),
            src_mask=jnp.zeros((S, S)),
            src_key_padding_mask=jnp.zeros((N, S), bool),
        )
