// commit_changed_windows: schema and device-independent argument checks (limit and
// commit_all_above are checked by the Python wrapper).
//
//   commit_changed_windows(x, snapshots, limit, block_size, kernel_size, stride, padding,
//                          dilation, commit_all_above) -> Tensor mask
//
// For every b x b block of a conv's output, the L1 change of the block's input window against
// its snapshot is compared with `limit`; blocks whose change exceeds it (strictly) are fired,
// and when the fired share of blocks reaches `commit_all_above`, every block is. Fired blocks
// get the current window as their new snapshot (in place). Snapshot entries that lie in the
// conv's zero padding must be zero (block_input_windows and every commit make them so).
// Returns the bool (N, H_out, W_out)
// mask of the output positions of the fired blocks. An input with NaN or Inf raises a
// ValueError and changes nothing. This is the gate and the state update of
// SkipConv2d's norm gates in one pass. Kernels: cpu/commit_changed_windows.cpp,
// cuda/commit_changed_windows_cuda.cu.
#include "commit_changed_windows.h"

#include <torch/library.h>

#include "tensor_checks.h"

namespace mmeff {

BlockWindowGeometry check_commit_changed_windows_args(
    const char* op, const at::Tensor& input, const at::Tensor& snapshots, int64_t block_size,
    at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
    at::IntArrayRef dilation) {
  TORCH_CHECK(input.dim() == 4, op, "x must be 4-D (N, C, H, W), got shape ", input.sizes());
  for (auto [values, name, least] :
       {std::tuple{kernel_size, "kernel_size", 1}, std::tuple{stride, "stride", 1},
        std::tuple{padding, "padding", 0}, std::tuple{dilation, "dilation", 1}}) {
    TORCH_CHECK(values.size() == 2, op, name, " must have 2 values (h, w), got ", values.size());
    TORCH_CHECK(values[0] >= least && values[1] >= least, op, name, " must be >= ", least, ", got ",
                values);
  }
  TORCH_CHECK(block_size >= 1, op, "block_size must be positive, got ", block_size);
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), op, "x must be floating point, got ",
              input.scalar_type());

  BlockWindowGeometry g;
  g.batch = input.size(0);
  g.channels = input.size(1);
  g.in_h = input.size(2);
  g.in_w = input.size(3);
  g.block = block_size;
  g.stride_h = stride[0];
  g.stride_w = stride[1];
  g.pad_h = padding[0];
  g.pad_w = padding[1];
  const int64_t span_h = (kernel_size[0] - 1) * dilation[0] + 1;
  const int64_t span_w = (kernel_size[1] - 1) * dilation[1] + 1;
  g.out_h = (g.in_h + 2 * g.pad_h - span_h) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - span_w) / g.stride_w + 1;
  TORCH_CHECK(g.in_h + 2 * g.pad_h >= span_h && g.in_w + 2 * g.pad_w >= span_w, op, "x of shape ",
              input.sizes(), " is smaller than the (dilated) kernel");
  g.blocks_h = (g.out_h + block_size - 1) / block_size;
  g.blocks_w = (g.out_w + block_size - 1) / block_size;
  g.win_h = (block_size - 1) * g.stride_h + span_h;
  g.win_w = (block_size - 1) * g.stride_w + span_w;

  const std::vector<int64_t> expected{g.batch,    g.blocks_h, g.blocks_w,
                                      g.channels, g.win_h,    g.win_w};
  TORCH_CHECK(snapshots.sizes() == at::IntArrayRef(expected), op,
              "snapshots must have shape (N, blocks_h, blocks_w, C, win_h, win_w) = ",
              at::IntArrayRef(expected), ", got ", snapshots.sizes());
  TORCH_CHECK(snapshots.is_contiguous(), op, "snapshots must be contiguous");
  TORCH_CHECK(snapshots.scalar_type() == input.scalar_type(), op, "snapshots dtype ",
              snapshots.scalar_type(), " differs from x dtype ", input.scalar_type());
  TORCH_CHECK(snapshots.device() == input.device(), op, "snapshots is on ", snapshots.device(),
              " but x is on ", input.device());
  check_no_overlap(op, "snapshots", snapshots, "x", input);
  return g;
}

at::Tensor block_positions(const at::Tensor& fired, const BlockWindowGeometry& g) {
  using at::indexing::Slice;
  return fired.repeat_interleave(g.block, 1)
      .repeat_interleave(g.block, 2)
      .index({Slice(), Slice(0, g.out_h), Slice(0, g.out_w)})
      .contiguous();
}

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "commit_changed_windows(Tensor x, Tensor(a!) snapshots, float limit, int block_size, "
      "int[2] kernel_size, int[2] stride, int[2] padding, int[2] dilation, "
      "float commit_all_above) -> Tensor");
}

}  // namespace mmeff
