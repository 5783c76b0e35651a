// depthwise_conv2d: schema.
//
//   depthwise_conv2d(x, weight, bias, stride, padding, dilation) -> Tensor
//
// conv2d(x, weight, bias, stride, padding, dilation, groups=C) with one filter per channel
// (weight (C, 1, kh, kw)), zero padding. A CPU kernel for the small per-frame depthwise convs
// of streaming networks, where oneDNN's per-call cost dominates: cpu/depthwise_conv2d.cpp.
// Other devices use their own depthwise convolutions (see mmeff/ops/depthwise_conv2d.py).
#include <torch/library.h>

namespace mmeff {

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "depthwise_conv2d(Tensor x, Tensor weight, Tensor? bias, int[2] stride, "
      "int[2] padding, int[2] dilation) -> Tensor");
}

}  // namespace mmeff
