// The undo record of the logged frame ops (skip_conv2d_frame_logged, delta_conv2d_frame_logged):
// the old values of exactly the state that one call overwrites, taken after the gate's
// decisions and the NaN/Inf check and before the first write. A stream transaction keeps the
// records of a frame and writes them back if the frame fails; the unlogged ops take none.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <tuple>
#include <vector>

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

// The values of `t` (N, C, H, W, any strides) at the positions of `mask` (bool (N, H, W),
// contiguous): (P, C), positions in (n, y, x) order. A (C, P) buffer seen transposed where
// t's channels are not adjacent in memory (NCHW), so that both the reads and the writes run
// along memory (cpu/frame_undo.cpp).
at::Tensor values_at(const at::Tensor& t, const at::Tensor& mask);

// The rows of `state` (contiguous; its first `leading` dimensions, flattened, are the
// flags.size() rows) whose flag is set: (K, <the other dimensions of state>).
at::Tensor rows_at(const at::Tensor& state, int64_t leading, const std::vector<uint8_t>& flags);

}  // namespace mmeff
