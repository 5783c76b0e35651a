// movinet_block_frame: schema.
//
//   movinet_block_frame(x, expand_weight, expand_bias, spatial_weight, spatial_bias, stride,
//                       padding, past, temporal_weight, temporal_bias, activation, pooled_sum,
//                       frames_seen, reduce_weight, reduce_bias, excite_weight, excite_bias,
//                       se_activation, gate, project_weight, project_bias, rezero,
//                       shortcut_pool, shortcut_weight, shortcut_bias)
//     -> (out, spatial, pooled_sum)
//
// One frame through a streamed MoViNet block (inverted bottleneck, (2+1)D depthwise stage,
// causal squeeze-excitation, ReZero residual), BatchNorm already folded into the convs:
//
//   e       = act(expand_weight @ input + expand_bias)                (N, E, H, W)
//   spatial = act(depthwise_conv2d(e, spatial_weight, spatial_bias, stride, padding))
//   d       = act(temporal_bias + sum_{i < k_t - 1} temporal_weight[:, i] * past[i]
//                 + temporal_weight[:, k_t - 1] * spatial)            (N, E, H', W')
//             (d = spatial without a temporal stage: temporal_weight None, past empty)
//   m       = mean over H', W' of d                                   (N, E)
//   sum'    = pooled_sum + m  (pooled_sum None: a new stream, sum' = m)
//   s       = concat(sum' / (frames_seen + 1), m)                     (N, 2E)
//   g       = gate(excite_weight @ se_act(reduce_weight @ s + reduce_bias) + excite_bias)
//   r       = input, or its 3x3 stride-2 average pool (padding 1, padding not counted) if
//             shortcut_pool; then shortcut_weight @ r + shortcut_bias if shortcut_weight
//   out     = r + rezero * (project_weight @ (g * d) + project_bias)  (N, C_out, H', W')
//
// act, se_act: 'identity', 'relu' or 'hswish' (x * relu6(x + 3) / 6); gate: 'hardsigmoid'
// (relu6(x + 3) / 6) or 'sigmoid'. past: the k_t - 1 previous `spatial` frames of the stream,
// oldest first, each (N, E, H', W') or (N, E, 1, H', W'). Returned: out, spatial (the stream
// buffer's new frame; an empty tensor without a temporal stage) and sum' (N, E). Dilation 1,
// zero padding. CPU kernel: cpu/movinet_block_frame.cpp; the plain-PyTorch reference and the
// path for other devices: mmeff/ops/movinet_block_frame.py.
#include <torch/library.h>

namespace mmeff {

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "movinet_block_frame(Tensor x, Tensor expand_weight, Tensor? expand_bias, "
      "Tensor spatial_weight, Tensor? spatial_bias, int[2] stride, int[2] padding, "
      "Tensor[] past, Tensor? temporal_weight, Tensor? temporal_bias, str activation, "
      "Tensor? pooled_sum, int frames_seen, Tensor reduce_weight, Tensor? reduce_bias, "
      "Tensor excite_weight, Tensor? excite_bias, str se_activation, str gate, "
      "Tensor project_weight, Tensor? project_bias, float rezero, bool shortcut_pool, "
      "Tensor? shortcut_weight, Tensor? shortcut_bias) "
      "-> (Tensor, Tensor, Tensor)");
}

}  // namespace mmeff
