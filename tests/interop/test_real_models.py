"""Real models through ``from_torch`` (issue #14), compared with torch 2.13.

torchvision 0.28, timm and transformers models with random, perturbed weights (see
``real_models.py``): print and state_dict equality, then one jitted forward and backward
in eval and in training mode, whose outputs, input gradients, parameter gradients and
BatchNorm statistics must equal torch's; dynamic batch and sequence sizes; optimizer
steps (dropout keys and saving: test_real_models_semantics.py). CI runs two tiny models
built with the libraries' own classes, a one-layer VisionTransformer (torchvision) and a
one-layer GPT2Model (transformers): conversion, structure, and one jitted forward and
backward each (training mode and eval mode), at batch and sequence sizes other than the
conversion's. The full matrix (resnet18 and the other named models, real sizes and small
configurations, vgg, squeezenet, densenet, shufflenet, regnet, timm, BERT, DistilBERT;
both modes; optimizer steps) runs with ``--long`` or ``JAXNN_LONG=1``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import time
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import jaxnn as nn
from jaxnn.interop._lower import ConversionError
from tests.interop.real_models import (
    Case,
    compare,
    float64_parity,
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

long = pytest.mark.long  # the full matrix: --long or JAXNN_LONG=1 (conftest.py)


def _bert(**kw):
    cfg = dict(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    return transformers.BertModel(transformers.BertConfig(**{**cfg, **kw}))


def _gpt2(**kw):
    cfg = dict(
        vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=64, use_cache=False,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return transformers.GPT2Model(transformers.GPT2Config(**{**cfg, **kw}))


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


def _vit_tiny():
    """The CI torchvision model: VisionTransformer's classes (class token, Encoder,
    EncoderBlock, MLPBlock: a Sequential subclass with digit-named children), one layer."""
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        16, 8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=24, num_classes=10
    )


def _gpt2_tiny():
    """The CI Hugging Face model: every class of GPT2Model (HF's Conv1D too), one layer."""
    return _gpt2(n_layer=1)


def _convnext_small():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 2)], num_classes=10)


def _mobilenet_small():
    from torchvision.models import mobilenetv3 as mv

    blocks = [
        mv.InvertedResidualConfig(16, 3, 16, 16, True, "RE", 2, 1, 1.0),
        mv.InvertedResidualConfig(16, 3, 32, 24, False, "HS", 2, 1, 1.0),
    ]
    return mv.MobileNetV3(blocks, last_channel=64, num_classes=10)


def _efficientnet_small():
    from torchvision.models import efficientnet as ef

    blocks = [ef.MBConvConfig(1, 3, 1, 16, 16, 1), ef.MBConvConfig(4, 3, 2, 16, 24, 2)]
    return ef.EfficientNet(
        blocks, dropout=0.2, stochastic_depth_prob=0.2, num_classes=10, last_channel=64
    )


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
    # CI: one small torchvision model, one small Hugging Face model.
    # Compared at a batch (and sequence length) other than the conversion's (2, and 7
    # tokens): the dimensions are not frozen to the example's.
    Case("vit_b_16-tiny", _vit_tiny, image(16), batch=3),
    Case("gpt2-tiny", _gpt2_tiny, lambda n: tokens(5 + n)(n), batch=3),
    # JAXNN_LONG=1: everything else.
    Case("mobilenet_v3_small-small", _mobilenet_small, image(64), long=True, batch=4),
    Case("resnet18", lambda: M.resnet18(num_classes=10), image(64), long=True, batch=4),
    Case("efficientnet_b0-small", _efficientnet_small, image(64), long=True, batch=4),
    Case("vit_b_16-small", _vit_small, image(32), long=True),
    Case("convnext_tiny-small", _convnext_small, image(32), long=True),
    Case("bert", _bert, tokens(7), _bert_mask, long=True),
    Case("gpt2", _gpt2, tokens(7), long=True),
    Case("mobilenet_v3_small", lambda: M.mobilenet_v3_small(), image(64), long=True, batch=4),
    Case("efficientnet_b0", lambda: M.efficientnet_b0(), image(64), long=True, batch=4),
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


class BertClassifier(torch.nn.Module):
    """A user's head on a Hugging Face encoder: fx traces it, export traces the encoder."""

    def __init__(self):
        super().__init__()
        self.bert = _bert()
        self.head = torch.nn.Linear(32, 3)

    def forward(self, input_ids, attention_mask=None):
        hidden = self.bert(input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden[:, 0])


CASES.append(Case("bert-classifier", BertClassifier, tokens(7), _bert_mask, long=True))
CASES.append(
    Case(
        "bert-inputs_embeds",
        _bert,
        lambda n: (None, None, None, None, torch.randn(n, 7, 32)),  # input gradients
        long=True,
        # Converting this call fails (from_torch raises and lists why): fx cannot trace
        # BertSelfAttention, and torch.export with dynamic shapes asserts ("Must provide a
        # tree_name when there might be a mismatch") on its call, whose **kwargs hold only
        # None values (static shapes, or dropping those None entries, export).
        xfail="from_torch cannot convert BertModel called with inputs_embeds and no mask",
    )
)
BY_NAME = {c.name: c for c in CASES}


@functools.cache
def converted(name: str) -> tuple[torch.nn.Module, nn.Module]:
    case = BY_NAME[name]
    torch.manual_seed(0)
    tm = no_dropout(perturb(case.build()))
    start = time.perf_counter()
    try:
        jm = nn.from_torch(tm, example_inputs=case.inputs(2), example_kwargs=case.kwargs(2) or None)
    except Exception as e:  # the table lists the models that do not convert, and why
        report(name, convert_error=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
        raise
    report(
        name,
        convert_s=round(time.perf_counter() - start, 1),
        params=sum(p.numel() for p in tm.parameters()),
        traced=traced_by(jm),
        compared_at=[list(a.shape) for a in case.inputs(case.batch) if a is not None],
    )
    return tm, jm


def traced_by(jm: nn.Module) -> dict[str, int]:
    """How many generated modules replay an fx trace, an export trace, or both."""
    counts: dict[str, int] = {}
    for m in jm.modules():
        table = getattr(m, "_jaxnn_table", None)
        if table is not None:
            kind = "+".join(sorted({p.source for p in table.programs.values()})) or "none"
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def report(name: str, **fields) -> None:
    """With JAXNN_MODELS_REPORT=path, append the measured figures (docs/MODELS.md)."""
    path = os.environ.get("JAXNN_MODELS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"name": name, **fields}, default=float) + "\n")


# The gradient checks CI runs (a jitted forward and backward compiles in seconds per
# model and mode): the torchvision model in training mode, the Hugging Face one in eval
# mode. JAXNN_LONG=1 runs every model's gradients in both modes.
CI_CHECKS = {("vit_b_16-tiny", "train"), ("gpt2-tiny", "eval")}


def _params(modes: bool):
    out = []
    for case in CASES:
        for mode in ("eval", "train") if modes else (None,):
            ci = not case.long and (mode is None or (case.name, mode) in CI_CHECKS)
            args = (case.name, mode) if modes else (case.name,)
            ident = f"{case.name}-{mode}" if modes else case.name
            marks = [] if ci else [long]
            if case.xfail:
                marks.append(
                    pytest.mark.xfail(raises=ConversionError, strict=True, reason=case.xfail)
                )
            out.append(pytest.param(*args, marks=marks, id=ident))
    return out


@pytest.mark.parametrize("name", _params(False))
def test_structure_matches_torch(name):
    tm, jm = converted(name)
    same = {
        "print": repr(jm) == repr(tm),
        "state_dict": list(jm.state_dict()) == list(tm.state_dict()),
        "buffers": [n for n, _ in jm.named_buffers()] == [n for n, _ in tm.named_buffers()],
        "parameters": [n for n, _ in jm.named_parameters()]
        == [n for n, _ in tm.named_parameters()],
    }
    report(name, structure=same)
    assert repr(jm) == repr(tm)
    assert all(same.values()), same


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=long)
        for n in (
            "mobilenet_v3_small-small",
            "efficientnet_b0-small",
            "vit_b_16-small",
            "convnext_tiny-small",
            "gpt2",
        )
    ],
)
def test_forward_matches_torch(name):
    """A jitted eval forward against torch at the comparison batch size (the small
    configurations were CI's first check of these architectures)."""
    case = BY_NAME[name]
    tm, jm = converted(name)
    tm.eval()
    args, kwargs = case.inputs(case.batch), case.kwargs(case.batch)
    with torch.no_grad():
        ref = case.outputs(tm(*args, **kwargs))
    jargs = [None if a is None else jnp.asarray(to_numpy(a)) for a in args]
    jkwargs = {k: jnp.asarray(to_numpy(v)) for k, v in kwargs.items()}
    out = case.outputs(jax.jit(lambda m, a, k: m(*a, **k))(jm.eval(), jargs, jkwargs))
    for o, r in zip(out, ref, strict=True):
        assert rel(o, to_numpy(r)) < case.tol


# Known float32 differences that the float32 rule above does not absorb, each with its
# evidence. The test still fails outright if jaxnn's float64 result differs from torch's
# float64 result (by more than 1e-10): then the conversion itself would be wrong.
FLOAT32_ROUNDING = {
    "densenet121": (
        "float32 gradients 2-4x further from float64 than torch's oneDNN float32 gradients "
        "(measured: eval input gradients 3.7e-3 vs torch 5.2e-4, and 2.0e-3 for torch itself "
        "with oneDNN off), while jaxnn and torch agree to 1e-12 in float64: the same "
        "function, rounded differently in float32 (121 layers), not a conversion error."
    ),
}


@pytest.mark.parametrize("name,mode", _params(True))
def test_outputs_and_gradients_match_torch(name, mode):
    case = BY_NAME[name]
    tm, jm = converted(name)
    try:
        errors = compare(tm, jm, case, batch=case.batch, train=mode == "train")
    except Exception as e:
        report(name, mode=mode, error=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
        raise
    bad = errors.failures(case.tol, case.grad_tol)
    f64 = None
    if bad:  # the same function computed differently, or a real error? float64 says
        f64 = float64_parity(tm, jm, case, batch=case.batch, train=mode == "train")
        bad.append("in float64 both ways: " + ", ".join(f"{k} {v:.1e}" for k, v in f64.items()))
    known = FLOAT32_ROUNDING.get(name) if bad else None
    report(name, mode=mode, errors=errors.__dict__, failures=bad, float64_parity=f64, known=known)
    if bad and name in FLOAT32_ROUNDING and max(f64.values()) < 1e-10:
        pytest.xfail(f"{name} ({mode}): {FLOAT32_ROUNDING[name]} " + "; ".join(bad))
    assert not bad, f"{name} ({mode}): " + "; ".join(bad)


@pytest.mark.parametrize(
    "name",
    [pytest.param("resnet18", marks=long), pytest.param("bert", marks=long)],
)
def test_batch_and_sequence_sizes_are_not_frozen(name):
    """A jitted eval forward at sizes other than the example's (converted at batch 2)."""
    tm, jm = converted(name)
    tm.eval()
    jm.eval()
    run = jax.jit(lambda m, *a, **k: m(*a, **k))
    if name.startswith("bert"):
        for n, seq in [(1, 11)]:
            ids = torch.randint(0, 100, (n, seq))
            mask = torch.ones(n, seq, dtype=torch.long)
            mask[0, seq // 2 :] = 0
            with torch.no_grad():
                ref = tm(ids, attention_mask=mask).last_hidden_state
            out = run(jm, jnp.asarray(ids.numpy()), attention_mask=jnp.asarray(mask.numpy()))
            assert rel(out.last_hidden_state, to_numpy(ref)) < 2e-5
        # Longer than max_position_embeddings: torch raises, and so does the replay.
        ids = torch.zeros(2, 65, dtype=torch.long)
        with pytest.raises(RuntimeError, match="expanded size"):
            tm(ids, attention_mask=torch.ones_like(ids))
        with pytest.raises((RuntimeError, ValueError), match="expanded size|outside the range"):
            jm(jnp.asarray(ids.numpy()), attention_mask=jnp.ones((2, 65), jnp.int32))
    else:
        for n in (3,):
            x = torch.randn(n, 3, 48, 48)
            with torch.no_grad():
                ref = tm(x)
            assert rel(run(jm, jnp.asarray(x.numpy())), to_numpy(ref)) < 2e-5


OPTIMIZERS = {
    "sgd": (lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9), optax.sgd(1e-3, momentum=0.9)),
    "adam": (lambda ps: torch.optim.Adam(ps, lr=1e-3), optax.adam(1e-3)),
}


# Every model issue #14 names trains with optax (SGD with momentum); resnet18 and BERT
# with Adam too.
TRAINED = [
    ("resnet18", "sgd"),
    ("resnet18", "adam"),
    ("mobilenet_v3_small", "sgd"),
    ("efficientnet_b0", "sgd"),
    ("vit_b_16", "sgd"),
    ("convnext_tiny", "sgd"),
    ("bert", "sgd"),
    ("bert", "adam"),
    ("gpt2", "sgd"),
]


@pytest.mark.parametrize("name,opt", [pytest.param(*t, marks=long) for t in TRAINED])
def test_optimizer_steps_track_torch(name, opt):
    try:
        _optimizer_steps(name, opt)
    except Exception as e:
        report(name, optimizer=opt, error=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
        raise


def _optimizer_steps(name, opt):
    """Three training steps (training mode, BatchNorm statistics carried) apply torch's
    updates. Training amplifies float32 rounding step after step (torch's own float32 run
    leaves its float64 run by 1e-2 after three SGD steps of resnet18), so jaxnn's updates
    must be as close to the float64 ones as torch's float32 updates are, or within 1e-3.
    Image classifiers minimise cross-entropy, text encoders the mean square of their
    first output."""
    case = BY_NAME[name]
    tm0, jm0 = converted(name)
    make_torch_opt, jopt = OPTIMIZERS[opt]
    args, kwargs = case.inputs(4), case.kwargs(4)
    labels = torch.arange(4) % 10
    classify = args[0].is_floating_point()

    def torch_loss(out):
        if classify:
            return torch.nn.functional.cross_entropy(out, labels)
        return (case.outputs(out)[0] ** 2).mean()

    def torch_train(dtype):
        tm = copy.deepcopy(tm0).to(dtype).train()
        topt = make_torch_opt(list(tm.parameters()))
        targs = [a.to(dtype) if a.is_floating_point() else a for a in args]
        for _ in range(3):
            topt.zero_grad()
            torch_loss(tm(*targs, **kwargs)).backward()
            topt.step()
        return tm

    t32 = torch_train(torch.float32)

    jm = copy.deepcopy(jm0)
    jm.load_state_dict(tm0.state_dict())
    jm.train()
    jargs = [jnp.asarray(to_numpy(a)) for a in args]
    jkwargs = {k: jnp.asarray(to_numpy(v)) for k, v in kwargs.items()}
    jlabels = jnp.asarray(labels.numpy())
    params, rest = eqx.partition(jm, nn.trainable(jm))
    state = jopt.init(params)

    @jax.jit
    def step(params, rest, state):
        def loss(p):
            out, new = nn.forward(eqx.combine(p, rest), *jargs, **jkwargs)
            value = (
                nn.functional.cross_entropy(out, jlabels)
                if classify
                else (case.outputs(out)[0] ** 2).mean()
            )
            return value, eqx.partition(new, nn.trainable(new))[1]

        (_, rest), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, state = jopt.update(grads, state, params)
        return optax.apply_updates(params, updates), rest, state

    for _ in range(3):
        params, rest, state = step(params, rest, state)
    trained = eqx.combine(params, rest)

    before = {n: to_numpy(p).astype(np.float64) for n, p in tm0.named_parameters()}
    ours = {n: np.asarray(trained.get_parameter(n), np.float64) - b for n, b in before.items()}
    f32 = {n: to_numpy(p).astype(np.float64) - before[n] for n, p in t32.named_parameters()}
    top = max(np.abs(d).max() for d in f32.values())

    def worst(a, b):  # the updates, relative to their size (at least 1% of the largest)
        return max(rel(a[n], b[n], floor=1e-2 * top) for n in before)

    vs32, vs64, noise = worst(ours, f32), None, 0.0
    if vs32 >= 1e-3:  # as far from float64 as torch's float32 run is?
        t64 = torch_train(torch.float64)
        f64 = {n: to_numpy(p).astype(np.float64) - before[n] for n, p in t64.named_parameters()}
        vs64, noise = worst(ours, f64), worst(f32, f64)
    report(name, optimizer=opt, update_vs_torch=vs32, update_vs_float64=vs64, torch_noise=noise)
    assert vs32 < 1e-3 or vs64 <= max(1e-3, 2 * noise), (vs32, vs64, noise)
    for n, b in t32.named_buffers():
        if b.is_floating_point():
            assert rel(trained.get_buffer(n), to_numpy(b)) < max(1e-3, 2 * noise), n


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
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


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


@long
def test_resnet18_is_the_same_program_as_a_hand_written_twin():
    """The converted model's training step traces to the twin's jaxpr, op for op: the
    replay adds nothing to what XLA compiles (so it runs at the twin's speed)."""
    tm, jm = converted("resnet18")
    twin = ResNet18(num_classes=10)
    twin.load_state_dict(tm.state_dict())
    assert repr(twin).replace("ResNet18(", "ResNet(", 1) == repr(jm)

    def step(model, x):
        params, rest = eqx.partition(model, nn.trainable(model))

        def loss(p):
            out, new = nn.forward(eqx.combine(p, rest), x)
            return (out**2).mean(), new

        return jax.grad(loss, has_aux=True)(params)

    x = jnp.ones((4, 3, 64, 64))
    assert str(jax.make_jaxpr(step)(jm.train(), x)) == str(jax.make_jaxpr(step)(twin.train(), x))
