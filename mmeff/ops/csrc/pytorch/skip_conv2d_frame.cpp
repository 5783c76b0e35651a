// skip_conv2d_frame: schema, argument checks and the CUDA kernel, composed of the two ops.
//
//   skip_conv2d_frame(x, snapshots, output, weight, bias, limit, block_size, stride,
//                     padding, dilation, groups, dense_above) -> Tensor
//
// One frame of a SkipConv2d with a norm gate, in one call: the gate and snapshot update of
// commit_changed_windows (threshold `limit`, all blocks once their fired share reaches
// `dense_above`), then the fired blocks' output positions are recomputed into `output` with
// sparse_conv2d, or, when every block fired, output = conv2d(input) densely. Returns the
// number of recomputed output positions (an int64 scalar tensor on the CPU). The tensors and
// the geometry are checked here before any state changes (limit and dense_above by the Python
// wrapper); an input with NaN or Inf raises a ValueError and changes nothing. Kernels:
// cpu/skip_conv2d_frame.cpp; on CUDA the two ops are composed (below).
//
//   skip_conv2d_frame_logged(<the same arguments>) -> (Tensor count, Tensor fired_blocks,
//                            Tensor old_snapshots, Tensor positions, Tensor old_output)
//
// The same update, for a stream transaction: it also returns the undo record of the call
// (frame_undo.h), taken after the gate and before any write: the fired blocks (bool
// (N, blocks_h, blocks_w)) and their old snapshots (K, C_in, win_h, win_w), the recomputed
// output positions (bool (N, H_out, W_out)) and their old values (P, C_out). Writing them back
// (snapshots[fired_blocks] = old_snapshots, output.permute(0, 2, 3, 1)[positions] = old_output)
// restores both tensors bit for bit. CPU kernel only: other devices run the Python reference.
#include "skip_conv2d_frame.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "sparse_conv2d.h"
#include "tensor_checks.h"

namespace mmeff {

SkipFramePlan check_skip_conv2d_frame_args(const at::Tensor& input, const at::Tensor& snapshots,
                                           const at::Tensor& output, const at::Tensor& weight,
                                           const std::optional<at::Tensor>& bias,
                                           int64_t block_size, at::IntArrayRef stride,
                                           at::IntArrayRef padding, at::IntArrayRef dilation,
                                           int64_t groups) {
  const char* op = "skip_conv2d_frame: ";
  TORCH_CHECK(weight.dim() == 4, op, "weight must be 4-D (C_out, C_in/groups, kh, kw), got shape ",
              weight.sizes());
  const BlockWindowGeometry g = check_commit_changed_windows_args(op, input, snapshots, block_size,
                                                                  {weight.size(2), weight.size(3)},
                                                                  stride, padding, dilation);
  at::Tensor mask = at::empty({g.batch, g.out_h, g.out_w}, input.options().dtype(at::kBool));
  check_sparse_conv2d_args(op, "output", input, weight, bias, mask, output, stride, padding,
                           dilation, groups);
  check_no_overlap(op, "snapshots", snapshots, "output", output);
  check_no_overlap(op, "snapshots", snapshots, "weight", weight);
  if (bias) check_no_overlap(op, "snapshots", snapshots, "bias", *bias);
  return {g, mask};
}

void dense_conv2d_into(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, const at::Tensor& output,
                       at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                       int64_t groups) {
  const bool one_depthwise_frame = input.size(0) == 1 && groups == input.size(1) &&
                                   groups == weight.size(0) && input.device().is_cpu();
  if (one_depthwise_frame) {  // oneDNN's per-call cost dominates such small convs
    static const auto depthwise =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("mmeff::depthwise_conv2d", "")
            .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                              const std::optional<at::Tensor>&, at::IntArrayRef, at::IntArrayRef,
                              at::IntArrayRef)>();
    output.copy_(depthwise.call(input, weight, bias, stride, padding, dilation));
  } else {
    output.copy_(at::conv2d(input, weight, bias, stride, padding, dilation, groups));
  }
}

#ifdef MMEFF_WITH_CUDA
namespace {

at::Tensor skip_conv2d_frame_composite(const at::Tensor& input, const at::Tensor& snapshots,
                                       const at::Tensor& output, const at::Tensor& weight,
                                       const std::optional<at::Tensor>& bias, double limit,
                                       int64_t block_size, at::IntArrayRef stride,
                                       at::IntArrayRef padding, at::IntArrayRef dilation,
                                       int64_t groups, double dense_above) {
  // Checked up front so that a bad output or weight is reported before the commit changes the
  // snapshots (the plan's mask goes unused: commit_changed_windows returns its own).
  check_skip_conv2d_frame_args(input, snapshots, output, weight, bias, block_size, stride, padding,
                               dilation, groups);
  static const auto commit =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mmeff::commit_changed_windows", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, int64_t, at::IntArrayRef,
                            at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, double)>();
  static const auto sparse =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mmeff::sparse_conv2d", "")
          .typed<void(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                      const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                      at::IntArrayRef, int64_t)>();
  const at::Tensor mask =
      commit.call(input, snapshots, limit, block_size, {weight.size(2), weight.size(3)}, stride,
                  padding, dilation, dense_above);
  const int64_t positions = mask.sum().item<int64_t>();
  if (positions == mask.numel()) {
    dense_conv2d_into(input, weight, bias, output, stride, padding, dilation, groups);
  } else if (positions > 0) {
    sparse.call(input, weight, bias, mask, output, stride, padding, dilation, groups);
  }
  return at::scalar_tensor(positions, at::kLong);
}

}  // namespace
#endif

TORCH_LIBRARY_FRAGMENT(mmeff, m) {
  m.def(
      "skip_conv2d_frame(Tensor x, Tensor(a!) snapshots, Tensor(b!) output, Tensor weight, "
      "Tensor? bias, float limit, int block_size, int[2] stride, int[2] padding, "
      "int[2] dilation, int groups, float dense_above) -> Tensor");
  m.def(
      "skip_conv2d_frame_logged(Tensor x, Tensor(a!) snapshots, Tensor(b!) output, "
      "Tensor weight, Tensor? bias, float limit, int block_size, int[2] stride, int[2] padding, "
      "int[2] dilation, int groups, float dense_above) -> (Tensor, Tensor, Tensor, Tensor, "
      "Tensor)");
}

#ifdef MMEFF_WITH_CUDA
// Only where both inner ops have kernels: other devices get no kernel, so the Python wrapper
// runs the reference there.
TORCH_LIBRARY_IMPL(mmeff, CUDA, m) { m.impl("skip_conv2d_frame", &skip_conv2d_frame_composite); }
#endif

}  // namespace mmeff
