"""Every jaxnn.functional function has torch.nn.functional's signature.

Parameter names, order and defaults must equal torch's, so ported code works by changing
the import. jaxnn may add keyword-only parameters at the end (the PRNG key), nothing else.
"""

import inspect

import pytest
import torch.nn.functional as TF

import jaxnn.functional as F

# The functions the functional issue lists (torch names).
NAMES = """
linear bilinear
relu relu6 leaky_relu prelu elu selu celu gelu silu mish sigmoid tanh hardtanh hardsigmoid
hardswish softplus softsign softshrink hardshrink tanhshrink threshold logsigmoid glu softmax
log_softmax softmin
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d unfold fold
max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d lp_pool1d lp_pool2d
adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d
max_unpool1d max_unpool2d
batch_norm layer_norm group_norm instance_norm local_response_norm rms_norm normalize
dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout
embedding embedding_bag one_hot pad interpolate upsample upsample_nearest upsample_bilinear
pixel_shuffle pixel_unshuffle grid_sample affine_grid
cosine_similarity pairwise_distance pdist
scaled_dot_product_attention multi_head_attention_forward
cross_entropy nll_loss mse_loss l1_loss smooth_l1_loss huber_loss binary_cross_entropy
binary_cross_entropy_with_logits kl_div poisson_nll_loss gaussian_nll_loss margin_ranking_loss
hinge_embedding_loss soft_margin_loss multilabel_margin_loss multilabel_soft_margin_loss
multi_margin_loss cosine_embedding_loss triplet_margin_loss ctc_loss
fractional_max_pool2d fractional_max_pool3d fractional_max_pool2d_with_indices
fractional_max_pool3d_with_indices rrelu gumbel_softmax linear_cross_entropy conv_tbc
native_channel_shuffle grouped_mm
""".split()

# torch builtins without a Python signature: (name, parameters as documented for 2.13).
BUILTIN = {
    "conv1d": "input weight bias stride padding dilation groups",
    "conv2d": "input weight bias stride padding dilation groups",
    "conv3d": "input weight bias stride padding dilation groups",
    "conv_transpose1d": "input weight bias stride padding output_padding groups dilation",
    "conv_transpose2d": "input weight bias stride padding output_padding groups dilation",
    "conv_transpose3d": "input weight bias stride padding output_padding groups dilation",
    "avg_pool1d": "input kernel_size stride padding ceil_mode count_include_pad",
    "avg_pool2d": "input kernel_size stride padding ceil_mode count_include_pad divisor_override",
    "avg_pool3d": "input kernel_size stride padding ceil_mode count_include_pad divisor_override",
    "pdist": "input p",
    "cosine_similarity": "x1 x2 dim eps",
    "pixel_shuffle": "input upscale_factor",
    "pixel_unshuffle": "input downscale_factor",
    "bilinear": "input1 input2 weight bias",
    "linear": "input weight bias",
    "prelu": "input weight",
    "selu": "input inplace",
    "celu": "input alpha inplace",
    "hardtanh": "input min_val max_val inplace",
    "softplus": "input beta threshold",
    "hardshrink": "input lambd",
    "softshrink": "input lambd",
    "logsigmoid": "input",
    "one_hot": "tensor num_classes",
    "tanh": "input",
    "sigmoid": "input",
    "gelu": "input approximate",
    "adaptive_avg_pool1d": "input output_size",
    "pairwise_distance": "x1 x2 p eps keepdim",
    "scaled_dot_product_attention": "query key value attn_mask dropout_p is_causal scale enable_gqa",
    "conv_tbc": "input weight bias pad",
    "native_channel_shuffle": "input groups",
}


def _torch_params(name):
    fn = getattr(TF, name)
    # torch's boolean_dispatch wrappers (max_pool2d, ...) show (*args, **kwargs); their
    # real signature is the *_with_indices variant's.
    if hasattr(TF, f"{name}_with_indices"):
        fn = getattr(TF, f"{name}_with_indices")
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_torch(name):
    assert hasattr(F, name), f"jaxnn.functional has no {name}"
    ours = list(inspect.signature(getattr(F, name)).parameters.values())
    theirs = _torch_params(name)
    if theirs is None:
        expected = BUILTIN[name].split()
        got = [p.name for p in ours if p.kind is not p.KEYWORD_ONLY or p.name in expected]
        assert got[: len(expected)] == expected, f"{name}: {got} vs torch {expected}"
        return
    torch_names = [p.name for p in theirs]
    our_names = [p.name for p in ours]
    assert our_names[: len(torch_names)] == torch_names, f"{name}: {our_names} vs torch {torch_names}"
    for p, t in zip(ours, theirs, strict=False):
        assert p.default == t.default, (
            f"{name}({p.name}): default {p.default!r} vs torch {t.default!r}"
        )
        assert p.kind == t.kind or (t.kind is t.POSITIONAL_OR_KEYWORD and p.kind is p.POSITIONAL_OR_KEYWORD), (
            f"{name}({p.name}): kind {p.kind} vs torch {t.kind}"
        )
    for extra in ours[len(theirs) :]:
        assert extra.kind is extra.KEYWORD_ONLY and extra.default is None, (
            f"{name}: extra parameter {extra.name} must be keyword-only with default None"
        )
