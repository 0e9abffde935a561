"""Real models through ``from_torch`` (issue #14), compared with torch 2.13.

torchvision 0.28, timm and transformers models with random, perturbed weights (see
``real_models.py``): print and state_dict equality, then one jitted forward and backward
in eval and in training mode, whose outputs, input gradients, parameter gradients and
BatchNorm statistics must equal torch's; dynamic batch and sequence sizes; optimizer
steps; dropout keys; saving. CI runs small configurations of the architectures; the full
matrix (the real sizes, and vgg, squeezenet, densenet, shufflenet, regnet, timm,
DistilBERT) runs with ``JAXNN_LONG=1``.
"""

from __future__ import annotations

import copy
import functools
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest
import torch

import jaxnn as nn
from tests.interop.real_models import (
    LONG,
    Case,
    compare,
    image,
    import_torchvision,
    no_dropout,
    perturb,
    rel,
    tokens,
)
from tests.parity import to_numpy

tv = import_torchvision()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import transformers

transformers.logging.set_verbosity_error()

long = pytest.mark.skipif(not LONG, reason="full real-model matrix: set JAXNN_LONG=1")


def _bert(**kw):
    cfg = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **kw,
    )  # fmt: skip
    return transformers.BertModel(cfg)


def _gpt2(**kw):
    cfg = transformers.GPT2Config(
        vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=64, use_cache=False,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0, **kw,
    )  # fmt: skip
    return transformers.GPT2Model(cfg)


def _distilbert():
    cfg = transformers.DistilBertConfig(
        vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
        max_position_embeddings=64, dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip
    return transformers.DistilBertModel(cfg)


def _vit_small():
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        32, 16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=37, num_classes=10
    )


def _convnext_small():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 2)], num_classes=10)


def _timm(name, **kw):
    import timm

    return timm.create_model(name, **kw)


def _mlp():
    t = torch.nn
    return t.Sequential(t.Linear(20, 32), t.ReLU(), t.Linear(32, 10))


def _cnn():
    t = torch.nn
    return t.Sequential(
        t.Conv2d(1, 8, 3, padding=1), t.BatchNorm2d(8), t.ReLU(), t.MaxPool2d(2),
        t.Flatten(), t.Linear(8 * 14 * 14, 10),
    )  # fmt: skip


def _lstm():
    return torch.nn.LSTM(8, 16, num_layers=2, batch_first=True)


def _encoder():
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    return torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


def _bert_mask(n: int) -> dict:
    mask = torch.ones(n, 7, dtype=torch.long)
    mask[0, 5:] = 0
    return {"attention_mask": mask}


M = tv.models
CASES = [
    Case("resnet18", lambda: M.resnet18(num_classes=10), image(64), batch=4),
    Case("mobilenet_v3_small", lambda: M.mobilenet_v3_small(num_classes=10), image(64), batch=4),
    Case("efficientnet_b0", lambda: M.efficientnet_b0(num_classes=10), image(64), batch=4),
    Case("vit_b_16-small", _vit_small, image(32)),
    Case("convnext_tiny-small", _convnext_small, image(32)),
    Case("bert", _bert, tokens(7), _bert_mask),
    Case("gpt2", _gpt2, tokens(7)),
    Case("vit_b_16", lambda: M.vit_b_16(image_size=32), image(32), long=True),
    Case("convnext_tiny", lambda: M.convnext_tiny(), image(32), long=True),
    Case("vgg11", lambda: M.vgg11(), image(32), long=True),
    Case("squeezenet1_0", lambda: M.squeezenet1_0(), image(64), long=True),
    Case("densenet121", lambda: M.densenet121(), image(64), long=True, batch=4),
    Case("shufflenet_v2_x0_5", lambda: M.shufflenet_v2_x0_5(), image(64), long=True, batch=4),
    Case("regnet_y_400mf", lambda: M.regnet_y_400mf(), image(64), long=True, batch=4),
    Case("timm_resnet18", lambda: _timm("resnet18"), image(64), long=True, batch=4),
    Case("timm_vit_tiny", lambda: _timm("vit_tiny_patch16_224", img_size=32), image(32), long=True),
    Case("distilbert", _distilbert, tokens(7), long=True),
    # torch.nn layers only: the layer-by-layer path, no tracing (docs/MODELS.md lists them).
    Case("MLP", _mlp, lambda n: (torch.randn(n, 20),), long=True),
    Case("CNN", _cnn, image(28, channels=1), long=True, batch=4),
    Case("LSTM", _lstm, lambda n: (torch.randn(n, 5, 8),), outputs=lambda o: (o[0],), long=True),
    Case("TransformerEncoder", _encoder, lambda n: (torch.randn(n, 6, 16),), long=True),
]
BY_NAME = {c.name: c for c in CASES}


@functools.cache
def converted(name: str) -> tuple[torch.nn.Module, nn.Module]:
    case = BY_NAME[name]
    torch.manual_seed(0)
    tm = no_dropout(perturb(case.build()))
    jm = nn.from_torch(tm, example_inputs=case.inputs(2), example_kwargs=case.kwargs(2) or None)
    return tm, jm


# The checks CI runs (a jitted forward and backward compiles in seconds per model and
# mode); JAXNN_LONG=1 runs every model in both modes.
CI_CHECKS = {
    ("resnet18", "eval"),
    ("resnet18", "train"),
    ("bert", "eval"),
    ("bert", "train"),
    ("gpt2", "train"),
    ("vit_b_16-small", "train"),
    ("convnext_tiny-small", "eval"),
    ("mobilenet_v3_small", "train"),
    ("efficientnet_b0", "eval"),
}


def _params(modes: bool):
    out = []
    for case in CASES:
        for mode in ("eval", "train") if modes else (None,):
            ci = not case.long and (mode is None or (case.name, mode) in CI_CHECKS)
            args = (case.name, mode) if modes else (case.name,)
            ident = f"{case.name}-{mode}" if modes else case.name
            out.append(pytest.param(*args, marks=[] if ci else [long], id=ident))
    return out


@pytest.mark.parametrize("name", _params(False))
def test_structure_matches_torch(name):
    tm, jm = converted(name)
    assert repr(jm) == repr(tm)
    assert list(jm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in jm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in jm.named_parameters()] == [n for n, _ in tm.named_parameters()]


@pytest.mark.parametrize("name,mode", _params(True))
def test_outputs_and_gradients_match_torch(name, mode):
    case = BY_NAME[name]
    tm, jm = converted(name)
    errors = compare(tm, jm, case, batch=case.batch, train=mode == "train")
    for what, err in errors.items():
        tol = case.tol if what == "output" else case.grad_tol
        assert err < tol, f"{name} ({mode}): {what} differs by {err:.2e}"


@pytest.mark.parametrize("name", ["resnet18", "bert"])
def test_batch_and_sequence_sizes_are_not_frozen(name):
    tm, jm = converted(name)
    tm.eval()
    jm.eval()
    run = jax.jit(lambda m, *a, **k: m(*a, **k))
    if name == "bert":
        for n, seq in [(3, 11), (1, 5)]:
            ids = torch.randint(0, 100, (n, seq))
            with torch.no_grad():
                ref = tm(ids).last_hidden_state
            out = run(jm, jnp.asarray(ids.numpy())).last_hidden_state
            assert rel(out, to_numpy(ref)) < 2e-5
        with pytest.raises(ValueError, match="outside the range"):
            jm(jnp.zeros((2, 65), jnp.int32))  # longer than max_position_embeddings
    else:
        for n in (3, 1):
            x = torch.randn(n, 3, 40, 40)
            with torch.no_grad():
                ref = tm(x)
            assert rel(run(jm, jnp.asarray(x.numpy())), to_numpy(ref)) < 2e-5


OPTIMIZERS = {
    "sgd": (lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), optax.sgd(0.05, momentum=0.9)),
    "adam": (lambda ps: torch.optim.Adam(ps, lr=1e-3), optax.adam(1e-3)),
}


@pytest.mark.parametrize(
    "name,opt",
    [
        ("resnet18", "sgd"),
        ("bert", "adam"),
        pytest.param("resnet18", "adam", marks=long),
        pytest.param("bert", "sgd", marks=long),
    ],
)
def test_optimizer_steps_track_torch(name, opt):
    """Three training steps (training mode, BatchNorm statistics carried) as torch's."""
    case = BY_NAME[name]
    tm0, jm0 = converted(name)
    tm = copy.deepcopy(tm0).train()
    jm = copy.deepcopy(jm0)
    jm.load_state_dict(tm.state_dict())
    jm.train()
    make_torch_opt, jopt = OPTIMIZERS[opt]
    args, kwargs = case.inputs(4), case.kwargs(4)

    topt = make_torch_opt(list(tm.parameters()))
    for _ in range(3):
        topt.zero_grad()
        (case.outputs(tm(*args, **kwargs))[0] ** 2).mean().backward()
        topt.step()

    jargs = [jnp.asarray(to_numpy(a)) for a in args]
    jkwargs = {k: jnp.asarray(to_numpy(v)) for k, v in kwargs.items()}
    params, rest = eqx.partition(jm, nn.trainable(jm))
    state = jopt.init(params)

    @jax.jit
    def step(params, rest, state):
        def loss(p):
            out, new = nn.forward(eqx.combine(p, rest), *jargs, **jkwargs)
            return (case.outputs(out)[0] ** 2).mean(), eqx.partition(new, nn.trainable(new))[1]

        (_, rest), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, state = jopt.update(grads, state, params)
        return optax.apply_updates(params, updates), rest, state

    for _ in range(3):
        params, rest, state = step(params, rest, state)
    trained = eqx.combine(params, rest)
    for n, p in tm.named_parameters():
        assert rel(trained.get_parameter(n), to_numpy(p)) < 1e-4, n
    for n, b in tm.named_buffers():
        if b.is_floating_point():
            assert rel(trained.get_buffer(n), to_numpy(b)) < 1e-4, n


class BasicBlock(nn.Module):
    """torchvision's BasicBlock written by hand in jaxnn (same names)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """torchvision's resnet18 written by hand in jaxnn (same names)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            nn.Sequential(BasicBlock(a, b, s), BasicBlock(b, b, 1)) for a, b, s in widths
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(nn.ops.flatten(self.avgpool(x), 1))


def test_resnet18_is_the_same_program_as_a_hand_written_twin():
    """The converted model's training step traces to the twin's jaxpr, op for op: the
    replay adds nothing to what XLA compiles (so it runs at the twin's speed)."""
    tm, jm = converted("resnet18")
    twin = ResNet18(num_classes=10)
    twin.load_state_dict(tm.state_dict())
    assert repr(twin) == repr(jm)

    def step(model, x):
        params, rest = eqx.partition(model, nn.trainable(model))

        def loss(p):
            out, new = nn.forward(eqx.combine(p, rest), x)
            return (out**2).mean(), new

        return jax.grad(loss, has_aux=True)(params)

    x = jnp.ones((4, 3, 64, 64))
    assert str(jax.make_jaxpr(step)(jm.train(), x)) == str(jax.make_jaxpr(step)(twin.train(), x))
