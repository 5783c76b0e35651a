// movinet_head_frame: schema.
//
//   movinet_head_frame(x, pooled_sum, frames_seen, hidden_weight, hidden_bias, activation,
//                      fc_weight, fc_bias) -> (logits, pooled_sum)
//
// The classifier of a MoViNet stream model for one frame: cumulative global average pooling,
// then a hidden layer and the class scores (dropout is the identity in inference):
//
//   m      = mean over H, W of input                 (N, C)
//   sum'   = pooled_sum + m  (pooled_sum None: a new stream, sum' = m)
//   h      = act(hidden_weight @ (sum' / (frames_seen + 1)) + hidden_bias)   (N, D)
//   logits = fc_weight @ h + fc_bias                 (N, K)
//
// act: 'identity', 'relu' or 'hswish'. Returned: logits and sum'. The weights (A0: 8.8 MB)
// are read once per frame, so the kernel (cpu/movinet_head_frame.cpp) is a bandwidth-bound
// matrix-vector product split over threads by rows; the plain-PyTorch reference and the path
// for other devices: mmeff/ops/movinet_head_frame.py.
#include <torch/library.h>

namespace mmeff {

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "movinet_head_frame(Tensor x, Tensor? pooled_sum, int frames_seen, "
      "Tensor hidden_weight, Tensor? hidden_bias, str activation, Tensor fc_weight, "
      "Tensor? fc_bias) -> (Tensor, Tensor)");
}

}  // namespace mmeff
