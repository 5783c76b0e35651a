// CPU pieces of the commit_changed_windows op that the fused SkipConv frame op reuses
// (cpu/commit_changed_windows.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "commit_changed_windows.h"

namespace mmeff {

// The gate and snapshot update of commit_changed_windows on checked arguments: returns the
// fired flag of every block (N, blocks_h, blocks_w, row-major). Raises a ValueError for an
// input with NaN or Inf before any snapshot changes. `before_commit`, if given, sees the flags
// once every block is decided and before any snapshot changes (the logged op's undo record).
using BlockFlagsVisitor = std::function<void(const std::vector<uint8_t>&)>;
std::vector<uint8_t> commit_changed_blocks_cpu(const at::Tensor& input, const at::Tensor& snapshots,
                                               const BlockWindowGeometry& g, double limit,
                                               double commit_all_above,
                                               const BlockFlagsVisitor& before_commit = {});

// Writes the (N, H_out, W_out) position mask of the fired blocks to `mask`; returns the number
// of selected positions.
int64_t write_block_mask(const std::vector<uint8_t>& fired, const BlockWindowGeometry& g,
                         bool* mask);

}  // namespace mmeff
