// CPU kernels of skip_conv2d_frame and skip_conv2d_frame_logged (see ../skip_conv2d_frame.cpp
// for the contract): the gate and snapshot update of commit_changed_windows, the position mask
// and its count in one loop, then sparse_conv2d's kernel or the dense conv, without going back
// through the dispatcher. The logged kernel copies the fired blocks' snapshots and output
// positions between the gate and the first write.
#include "skip_conv2d_frame.h"

#include <torch/library.h>

#include "commit_changed_windows_cpu.h"
#include "frame_undo.h"
#include "sparse_conv2d_cpu.h"

namespace mmeff {
namespace {

// Recomputes the `positions` positions of plan.mask into `output` (densely once all fired).
void recompute_fired(const SkipFramePlan& plan, int64_t positions, const at::Tensor& input,
                     const at::Tensor& output, const at::Tensor& weight,
                     const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  if (positions == plan.mask.numel()) {
    dense_conv2d_into(input, weight, bias, output, stride, padding, dilation, groups);
  } else if (positions > 0) {
    sparse_conv2d_cpu(input, weight, bias, plan.mask, output, stride, padding, dilation, groups);
  }
}

at::Tensor skip_conv2d_frame_cpu(const at::Tensor& input, const at::Tensor& snapshots,
                                 const at::Tensor& output, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias, double limit,
                                 int64_t block_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                                 double dense_above) {
  const SkipFramePlan plan = check_skip_conv2d_frame_args(
      input, snapshots, output, weight, bias, block_size, stride, padding, dilation, groups);
  const std::vector<uint8_t> fired =
      commit_changed_blocks_cpu(input, snapshots, plan.g, limit, dense_above);
  const int64_t positions = write_block_mask(fired, plan.g, plan.mask.data_ptr<bool>());
  recompute_fired(plan, positions, input, output, weight, bias, stride, padding, dilation, groups);
  return at::scalar_tensor(positions, at::kLong);
}

LoggedFrame skip_conv2d_frame_logged_cpu(const at::Tensor& input, const at::Tensor& snapshots,
                                         const at::Tensor& output, const at::Tensor& weight,
                                         const std::optional<at::Tensor>& bias, double limit,
                                         int64_t block_size, at::IntArrayRef stride,
                                         at::IntArrayRef padding, at::IntArrayRef dilation,
                                         int64_t groups, double dense_above) {
  const SkipFramePlan plan = check_skip_conv2d_frame_args(
      input, snapshots, output, weight, bias, block_size, stride, padding, dilation, groups);
  FrameUndo undo;
  int64_t positions = 0;
  commit_changed_blocks_cpu(
      input, snapshots, plan.g, limit, dense_above, [&](const std::vector<uint8_t>& fired) {
        positions = write_block_mask(fired, plan.g, plan.mask.data_ptr<bool>());
        undo.in_mask = at::from_blob(const_cast<uint8_t*>(fired.data()),
                                     {plan.g.batch, plan.g.blocks_h, plan.g.blocks_w}, at::kByte)
                           .to(at::kBool);
        undo.old_in = rows_at(snapshots, 3, fired);
        undo.out_mask = plan.mask;
        undo.old_out = values_at(output, plan.mask);
      });
  recompute_fired(plan, positions, input, output, weight, bias, stride, padding, dilation, groups);
  return undo.with_count(positions);
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) {
  m.impl("skip_conv2d_frame", &skip_conv2d_frame_cpu);
  m.impl("skip_conv2d_frame_logged", &skip_conv2d_frame_logged_cpu);
}

}  // namespace mmeff
