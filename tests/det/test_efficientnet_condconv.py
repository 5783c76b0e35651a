"""EfficientNetCondConv: CondConv in the last three stages only, one router per block whose
routing reaches the block's three convs, mmdet's out_indices, batch-independence, errors."""
import pytest
import torch

from mmeff.layers import CondConv2dAdaptivePadding, CondConvRouter
from tests.helpers import build_model

pytest.importorskip('mmdet', reason='EfficientNetCondConv is an mmdet backbone')


def backbone(**kwargs):
    return build_model(dict(type='EfficientNetCondConv', **kwargs), 'mmdet')


@pytest.mark.parametrize('experts', [4, 8])
def test_condconv_only_in_the_last_three_stages(experts):
    from mmeff.det import CondConvInvertedResidual
    model = backbone(num_experts=experts, out_indices=(6, ))
    kinds = [[type(block).__name__ for block in layer] for layer in model.layers[1:6]]
    # mmdet layer 4 holds the 80- (static) and 112-channel (CondConv) stages, layer 5 the
    # 192- and 320-channel stages.
    assert kinds[:3] == [['InvertedResidual'], ['InvertedResidual'] * 2, ['InvertedResidual'] * 2]
    assert kinds[3] == ['InvertedResidual'] * 3 + ['CondConvInvertedResidual'] * 3
    assert kinds[4] == ['CondConvInvertedResidual'] * 5
    blocks = [m for m in model.modules() if isinstance(m, CondConvInvertedResidual)]
    assert [b.linear_conv.out_channels for b in blocks] == [112] * 3 + [192] * 4 + [320]
    assert [b.depthwise_conv.stride for b in blocks] == [(1, 1)] * 3 + [(2, 2)] + [(1, 1)] * 4
    convs = [m for m in model.modules() if isinstance(m, CondConv2dAdaptivePadding)]
    assert len(convs) == 3 * len(blocks) and all(c.num_experts == experts for c in convs)
    assert all(c.router is None for c in convs)  # routing comes from the block
    assert sum(isinstance(m, CondConvRouter) for m in model.modules()) == len(blocks)


def test_one_routing_per_block_reaches_its_three_convs():
    model = backbone(num_experts=4, out_indices=(5, )).eval()
    block = model.layers[5][0]
    routers, seen = [], []
    block.router.register_forward_hook(lambda m, args, out: routers.append(out))
    for conv in (block.expand_conv, block.depthwise_conv, block.linear_conv):
        conv.register_forward_hook(lambda m, args, out: seen.append(args[1]))
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    assert len(routers) == 1 and len(seen) == 3
    assert all(r is routers[0] for r in seen)
    assert routers[0].shape == (2, 4) and bool(((routers[0] > 0) & (routers[0] < 1)).all())


def test_out_indices_and_strides_as_mmdet_efficientnet():
    model = backbone(num_experts=4, out_indices=(2, 3, 4, 5, 6)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 96, 128))
    assert [tuple(o.shape) for o in outs] == [(1, 24, 24, 32), (1, 40, 12, 16), (1, 112, 6, 8),
                                              (1, 320, 3, 4), (1, 1280, 3, 4)]


def test_each_sample_routes_on_its_own():
    torch.manual_seed(0)
    model = backbone(num_experts=8, out_indices=(4, 5)).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        batched = model(x)
        single = [model(x[i:i + 1]) for i in range(3)]
    for level, out in enumerate(batched):
        torch.testing.assert_close(out, torch.cat([s[level] for s in single]), atol=1e-4, rtol=1e-4)


def test_trains_experts_and_routers():
    model = backbone(num_experts=4, out_indices=(5, )).train()
    model(torch.randn(2, 3, 32, 32))[0].square().mean().backward()
    block = model.layers[5][1]
    for param in (block.router.fc.weight, block.expand_conv.weight, block.depthwise_conv.weight,
                  block.linear_conv.weight):
        assert param.grad is not None and bool(param.grad.abs().sum() > 0)


@pytest.mark.parametrize('kwargs, message', [(dict(num_experts=0), 'num_experts'),
                                             (dict(num_experts=2.0), 'num_experts'),
                                             (dict(arch='es'), 'arch')])
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        backbone(**kwargs)


#: A CondConv block's state dict keys -> the stock ``InvertedResidual``'s.
STOCK_NAMES = (('_norm.', '_conv.bn.'), ('_conv.weight', '_conv.conv.weight'))


def static_copy_of(condconv_model):
    """mmdet's ``EfficientNet`` holding a 1-expert ``EfficientNetCondConv``'s weights: each
    CondConv block's single expert becomes the stock block's static kernel."""
    static = build_model(
        dict(type='EfficientNet', out_indices=condconv_model.out_indices, drop_path_rate=0.),
        'mmdet').double()
    shapes = {key: value.shape for key, value in static.state_dict().items()}
    state = {}
    for key, value in condconv_model.state_dict().items():
        if '.router.' in key:
            continue
        for condconv_name, stock_name in STOCK_NAMES:
            key = key.replace(condconv_name, stock_name)
        state[key] = value.view(shapes[key])
    static.load_state_dict(state)
    return static


@pytest.mark.parametrize('train', [False, True])
def test_one_expert_always_on_is_the_static_backbone(train):
    """With 1 expert and routing 1, every CondConv block is mmdet's static block: equal
    outputs and equal gradients of the shared weights, with batch statistics and without."""
    torch.manual_seed(0)
    model = backbone(num_experts=1, out_indices=(4, 5, 6), drop_path_rate=0.).double()
    for block in model.condconv_blocks():
        torch.nn.init.zeros_(block.router.fc.weight)
        torch.nn.init.constant_(block.router.fc.bias, 40.)  # sigmoid(40) == 1 in float64
    static = static_copy_of(model)
    model.train(train), static.train(train)
    x = torch.randn(3, 3, 48, 48, dtype=torch.float64)
    outs, static_outs = model(x), static(x)
    for out, static_out in zip(outs, static_outs):
        torch.testing.assert_close(out, static_out, rtol=1e-9, atol=1e-9)
    sum(o.square().mean() for o in outs).backward()
    sum(o.square().mean() for o in static_outs).backward()
    block = model.layers[5][1]
    stock = static.layers[5][1]
    torch.testing.assert_close(block.expand_conv.weight.grad.view_as(stock.expand_conv.conv.weight),
                               stock.expand_conv.conv.weight.grad, rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(
        block.depthwise_conv.weight.grad.view_as(stock.depthwise_conv.conv.weight),
        stock.depthwise_conv.conv.weight.grad, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize('conv', ['expand_conv', 'depthwise_conv', 'linear_conv'])
def test_experts_start_at_the_static_convs_scale(conv):
    """Each expert of a CondConv block starts with the kernel distribution of the static conv
    it replaces (mmcv ConvModule's Kaiming fan_out rule), so the static and CondConv recipes
    start alike. The CondConv layer's default init is 9-14x the depthwise convs' scale and
    1/5 of the project convs'."""
    torch.manual_seed(0)
    static = build_model(dict(type='EfficientNet', out_indices=(5, )), 'mmdet')
    model = backbone(num_experts=8, out_indices=(5, ))
    for layer, index in ((4, 3), (5, 0), (5, 4)):
        want = getattr(static.layers[layer][index], conv).conv.weight.std()
        experts = getattr(model.layers[layer][index], conv).experts()
        for expert in experts:
            assert float(expert.std() / want) == pytest.approx(1, abs=0.2), (layer, index, conv)
        assert not torch.equal(experts[0], experts[1])  # independent draws
