// Element-wise activations of the fused CPU kernels (movinet_block_frame, movinet_head_frame),
// selected by name as in torch.nn.functional: relu, hardswish, hardsigmoid, sigmoid.
#pragma once

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace mmeff {

enum class Activation { kIdentity, kRelu, kHardSwish, kHardSigmoid, kSigmoid };

// 'identity', 'relu' or 'hswish' (gate: 'hardsigmoid' or 'sigmoid'); errors start with
// op and name the argument.
inline Activation parse_activation(const char* op, const std::string& name, const char* argument,
                                   bool gate = false) {
  if (!gate && name == "identity") return Activation::kIdentity;
  if (!gate && name == "relu") return Activation::kRelu;
  if (!gate && name == "hswish") return Activation::kHardSwish;
  if (gate && name == "hardsigmoid") return Activation::kHardSigmoid;
  if (gate && name == "sigmoid") return Activation::kSigmoid;
  TORCH_CHECK(false, op, argument, " must be ",
              gate ? "'hardsigmoid' or 'sigmoid'" : "'identity', 'relu' or 'hswish'", ", got '",
              name, "'");
}

template <Activation act, typename scalar_t>
__attribute__((always_inline)) inline scalar_t activate(scalar_t v) {
  constexpr scalar_t sixth = scalar_t(1.0 / 6.0);  // the division as a product: within an ulp
  if constexpr (act == Activation::kRelu) {
    return v > scalar_t(0) ? v : scalar_t(0);
  } else if constexpr (act == Activation::kHardSwish) {  // x * relu6(x + 3) / 6
    return v * std::min(std::max(v + scalar_t(3), scalar_t(0)), scalar_t(6)) * sixth;
  } else if constexpr (act == Activation::kHardSigmoid) {  // relu6(x + 3) / 6
    return std::min(std::max(v + scalar_t(3), scalar_t(0)), scalar_t(6)) * sixth;
  } else if constexpr (act == Activation::kSigmoid) {
    return scalar_t(1) / (scalar_t(1) + std::exp(-v));
  } else {
    return v;
  }
}

template <typename scalar_t>
inline scalar_t activate(Activation act, scalar_t v) {
  switch (act) {
    case Activation::kRelu:
      return activate<Activation::kRelu>(v);
    case Activation::kHardSwish:
      return activate<Activation::kHardSwish>(v);
    case Activation::kHardSigmoid:
      return activate<Activation::kHardSigmoid>(v);
    case Activation::kSigmoid:
      return activate<Activation::kSigmoid>(v);
    default:
      return v;
  }
}

}  // namespace mmeff
