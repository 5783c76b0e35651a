"""convert_timm_efficientnet: timm's tf_efficientnet_cc_b0_{4,8}e (random weights, random
BatchNorm statistics) loaded into EfficientNetCondConv give timm's stage outputs in float64;
tf_efficientnet_b0 does the same for mmdet's EfficientNet."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.converters import convert_timm_efficientnet
from tests.helpers import build_model

timm = pytest.importorskip('timm', reason='the oracle is timm (a test dependency)')
pytest.importorskip('mmdet', reason='the backbones are mmdet backbones')

#: timm model -> the backbone config it converts to.
PAIRS = {
    'tf_efficientnet_cc_b0_4e': dict(type='EfficientNetCondConv', num_experts=4),
    'tf_efficientnet_cc_b0_8e': dict(type='EfficientNetCondConv', num_experts=8),
    'tf_efficientnet_b0': dict(type='EfficientNet'),
}
#: timm's stage ends that mmdet's out_indices 2, 3, 4, 5 return (block stages 1, 2, 4, 6).
TIMM_STAGES = (1, 2, 4, 6)


def timm_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).double().eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # make the statistics matter
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


def timm_stage_outputs(model, x):
    """Outputs of timm's block stages 1, 2, 4, 6 and of its head conv + BN + activation."""
    y = model.bn1(model.conv_stem(x))
    outs = []
    for stage, blocks in enumerate(model.blocks):
        y = blocks(y)
        if stage in TIMM_STAGES:
            outs.append(y)
    return outs + [model.bn2(model.conv_head(y))]


@pytest.fixture(scope='module')
def converted():
    pairs = {}
    for name, cfg in PAIRS.items():
        reference = timm_model(name)
        backbone = build_model(dict(cfg, out_indices=(2, 3, 4, 5, 6)), 'mmdet')
        backbone.double()  # before loading, so float64 weights are not rounded to float32
        backbone.load_state_dict(convert_timm_efficientnet(reference.state_dict()), strict=True)
        backbone.eval()  # mmdet's EfficientNet.train returns None: no chaining
        pairs[name] = reference, backbone
    return pairs


@settings(deadline=None, max_examples=4)
@given(name=st.sampled_from(sorted(PAIRS)), batch=st.integers(1, 2),
       size=st.tuples(st.integers(17, 48), st.integers(17, 48)))
def test_stage_outputs_equal_timms(converted, name, batch, size):
    reference, backbone = converted[name]
    x = torch.randn(batch, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        expected = timm_stage_outputs(reference, x)
        actual = backbone(x)
    assert len(actual) == len(expected)
    for out, ref in zip(actual, expected):
        torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)


def test_shares_the_tensors_and_drops_the_classifier():
    state = timm_model('tf_efficientnet_cc_b0_4e').state_dict()
    out = convert_timm_efficientnet(state)
    assert not any(k.startswith('classifier') for k in out)
    assert out['layers.5.0.expand_conv.weight'] is state['blocks.5.0.conv_pw.weight']
    assert out['layers.4.3.router.fc.weight'] is state['blocks.4.0.routing_fn.weight']
    assert out['layers.1.0.se.conv1.conv.weight'] is state['blocks.0.0.se.conv_reduce.weight']
    assert len(out) == len(state) - 2


def test_unknown_key_is_named():
    state = dict(timm_model('tf_efficientnet_b0').state_dict())
    state['blocks.2.0.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='blocks.2.0.extra.weight'):
        convert_timm_efficientnet(state)
