// Per-thread scratch memory of the CPU kernels.
//
// Each thread keeps one grow-only, 64-byte aligned buffer per ScratchSlot, reused across
// calls: no allocation, page faults or zero-filling per call once warm. A buffer's contents
// are unspecified when handed out. It stays valid until the same thread asks for the same
// slot again, so a call holds at most one buffer per slot at a time; a parallel_for body runs
// on the calling thread too, so it must not ask for a slot its caller holds.
#pragma once

#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace mmeff {

enum class ScratchSlot : int {
  kColumns,      // sparse_conv2d: gathered receptive fields (im2col), gathered tile inputs
  kResults,      // sparse_conv2d: GEMM results, tile accumulators
  kFiredLists,   // delta_conv2d_frame: the fired values' lists (held across the whole call)
  kFlags,        // delta_conv2d_frame: per-worker flags of a pixel chunk
  kAccumulator,  // a worker's accumulators: output channels, a plane's output span
  kPlanes,       // a worker's input planes: expanded channels, a pooled row
  kPhases,       // a worker's stride phases of an input plane
  kTaps,         // a worker's tap offsets of an output position's window
  kWeights,      // a worker's scaled weight rows
  kCount,
};

// At least `bytes` bytes of the calling thread's buffer for `slot`.
inline void* thread_scratch_bytes(ScratchSlot slot, size_t bytes) {
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    size_t size = 0;
  };
  thread_local Buffer buffers[static_cast<int>(ScratchSlot::kCount)];
  Buffer& b = buffers[static_cast<int>(slot)];
  if (b.size < bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    b.data.reset(std::aligned_alloc(64, rounded));
    TORCH_CHECK(b.data, "out of memory for a ", rounded, "-byte scratch buffer");
    b.size = rounded;
  }
  return b.data.get();
}

// At least `elements` T's of the calling thread's buffer for `slot`.
template <typename T>
T* thread_scratch(ScratchSlot slot, int64_t elements) {
  return static_cast<T*>(thread_scratch_bytes(slot, static_cast<size_t>(elements) * sizeof(T)));
}

}  // namespace mmeff
