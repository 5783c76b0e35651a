// The undo record of the logged frame ops (skip_conv2d_frame_logged, delta_conv2d_frame_logged):
// the old values of exactly the state that one call overwrites, taken after the gate's
// decisions and the NaN/Inf check and before the first write. A stream transaction keeps the
// records of a frame and writes them back if the frame fails; the unlogged ops take none.
#pragma once

#include <ATen/ATen.h>
#include <ATen/TensorIndexing.h>

#include <cstdint>
#include <tuple>

namespace mmeff {

// What a logged op returns: (count, in_mask, old_in, out_mask, old_out), the count of the
// unlogged op followed by the FrameUndo fields.
using LoggedFrame = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

struct FrameUndo {
  at::Tensor in_mask;   // bool: the rows of the input-side state that the call overwrites
  at::Tensor old_in;    // their old values, state[in_mask]
  at::Tensor out_mask;  // bool (N, H_out, W_out): the output positions that the call overwrites
  at::Tensor old_out;   // their old values, (P, C_out): output.permute(0, 2, 3, 1)[out_mask]

  LoggedFrame with_count(int64_t count) const {
    return {at::scalar_tensor(count, at::kLong), in_mask, old_in, out_mask, old_out};
  }
};

// (N, H, W, C) view of an (N, C, H, W) tensor: a bool (N, H, W) mask selects whole positions.
inline at::Tensor positions_last(const at::Tensor& t) { return t.permute({0, 2, 3, 1}); }

// The values of `t` (N, C, H, W) at the positions of `mask` (N, H, W): (P, C), a copy.
inline at::Tensor values_at(const at::Tensor& t, const at::Tensor& mask) {
  return positions_last(t).index({mask});
}

}  // namespace mmeff
