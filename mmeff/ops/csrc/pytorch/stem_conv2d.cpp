// stem_conv2d: schema.
//
//   stem_conv2d(x, weight, bias, stride, padding, activation, check_finite) -> Tensor
//
// act(conv2d(x, weight, bias, stride, padding)) for the first conv of a network, whose
// input has few channels (an RGB frame): weight (C_out, C_in, kh, kw), C_in <= 8, one group,
// dilation 1, zero padding; act 'identity', 'relu' or 'hswish'. With check_finite the input is
// checked for NaN/Inf in the same pass (ValueError). A streamed frame reads its input once here
// instead of in a finiteness reduction and then oneDNN's NCHW conv (as MoViNet-A0's stem on
// every streamed frame). The plain-PyTorch reference and the path for other devices:
// mmeff/ops/stem_conv2d.py.
#include <torch/library.h>

namespace mmeff {

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "stem_conv2d(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, "
      "str activation, bool check_finite) -> Tensor");
}

}  // namespace mmeff
