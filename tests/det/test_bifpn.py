"""EfficientDetBiFPN: shapes, fast normalised fusion, both directions of the pyramid."""
import mmdet.models  # noqa: F401  (registers mmeff.det)
import pytest
import torch

from mmeff.det.bifpn import EfficientDetBiFPN, FastNormalizedFusion


def backbone_maps(height, width, channels=(40, 112, 320), requires_grad=False):
    sizes = [(-(-height // s), -(-width // s)) for s in (8, 16, 32)]
    return [
        torch.randn(1, c, h, w, requires_grad=requires_grad) for c, (h, w) in zip(channels, sizes)
    ]


@pytest.mark.parametrize('height,width', [(128, 128), (96, 160)])
def test_five_levels_of_out_channels(height, width):
    neck = EfficientDetBiFPN([40, 112, 320], 64, num_repeats=2).eval()
    with torch.no_grad():
        outs = neck(backbone_maps(height, width))
    h, w = -(-height // 8), -(-width // 8)
    for out in outs:
        assert out.shape == (1, 64, h, w)
        h, w = -(-h // 2), -(-w // 2)


def test_fast_normalized_fusion_formula():
    fusion = FastNormalizedFusion(3)
    with torch.no_grad():
        fusion.weights.copy_(torch.tensor([2.0, -1.0, 1.0]))  # the negative weight is clipped to 0
    xs = [torch.randn(2, 4, 5, 5) for _ in range(3)]
    want = (2 * xs[0] + 1 * xs[2]) / (3 + fusion.eps)
    torch.testing.assert_close(fusion(xs), want)
    with pytest.raises(ValueError, match='expected 3 inputs'):
        fusion(xs[:2])


def test_every_output_sees_every_input_level():
    """Top-down carries P5 to P3, bottom-up carries P3 to P7."""
    neck = EfficientDetBiFPN([40, 112, 320], 16, num_repeats=1).eval()
    for source in range(3):
        inputs = backbone_maps(64, 64, requires_grad=True)
        outs = neck(inputs)
        for level, out in enumerate(outs):
            grad, = torch.autograd.grad(out.sum(), inputs[source], retain_graph=True,
                                        allow_unused=True)
            assert grad is not None and grad.abs().sum() > 0, (source, level)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='C3-C5'):
        EfficientDetBiFPN([40, 112], 64, 3)
    with pytest.raises(ValueError, match='num_repeats'):
        EfficientDetBiFPN([40, 112, 320], 64, 0)
    with pytest.raises(ValueError, match='input levels'):
        EfficientDetBiFPN([40, 112, 320], 64, 1)(backbone_maps(64, 64)[:2])
