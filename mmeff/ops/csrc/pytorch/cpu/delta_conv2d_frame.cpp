// CPU kernel of delta_conv2d_frame (see ../delta_conv2d_frame.cpp for the contract).
//
// Five steps. List (pixel chunks in parallel): each pixel's fired values as (channel, delta),
// in channel order, into the calling thread's scratch (scratch_buffer.h), and the NaN/Inf
// check; nothing changes before it passed. The flags of a pixel's channels (NHWC) or of a
// chunk's pixels (NCHW) become 64-bit masks whose set bits are listed, so scattered values
// cost no branch each. Commit: the listed values go into the reference. Dense (once
// dense_above of the values fired): output += conv2d of the listed changes. Otherwise the
// listed values are multiplied by packed_weight[channel][tap][:] in registers, output
// channels in 64-byte vectors. Scatter (stride-1 ungrouped 3x3 convs with 1 or 2 vectors of
// output channels, channels_last): each fired pixel sums its values per tap and adds the
// sums to the output positions the taps reach (bands of input rows in parallel). Gather (the
// others): each output position whose window holds fired values sums them (output rows in
// parallel). Tensors are
// NCHW or channels_last (NHWC), each read with its own strides; channels_last is the fast
// layout (a pixel's channels, and an output position's, are contiguous). The logged kernel
// takes its undo record (frame_undo.h) between the list and the commit. Compiled for
// AVX-512, AVX2 and baseline x86-64 and picked at load time (GCC target_clones).
#include "delta_conv2d_frame.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "cpu_clones.h"
#include "frame_undo.h"
#include "scratch_buffer.h"

namespace mmeff {
namespace {

constexpr int64_t kPixelChunk = 256;

// Where value (c, pixel) of an image lies: c * channel + pixel * pixel (NCHW: channel = H * W,
// pixel = 1; NHWC: channel = 1, pixel = C).
struct PixelLayout {
  int64_t image, channel, pixel;
};

PixelLayout pixel_layout(const at::Tensor& t) {
  const int64_t h = t.size(2), w = t.size(3);
  return {t.stride(0), t.stride(1), w > 1 ? t.stride(3) : (h > 1 ? t.stride(2) : 1)};
}

// Calls visit(k) for every k in [k0, k1) with flags[k * step] set (flags are 0 or 1). Where
// step is 1, 64 flags at a time become one bit mask whose set bits are visited in order: the
// branches follow the masks, not each flag (scattered flags would mispredict about once each).
template <typename Visit>
inline void for_flagged(const uint8_t* flags, int64_t step, int64_t k0, int64_t k1, Visit&& visit) {
  if (step != 1) {
    for (int64_t k = k0; k < k1; ++k) {
      if (flags[k * step]) visit(k);
    }
    return;
  }
  constexpr uint64_t kByteBits = 0x0102040810204080ULL;  // byte i's low bit -> bit 56 + i
  for (int64_t k = k0; k < k1; k += 64) {
    const int64_t n = std::min<int64_t>(64, k1 - k);
    uint64_t mask = 0;
    int64_t b = 0;
    for (; b + 8 <= n; b += 8) {
      uint64_t word;
      __builtin_memcpy(&word, flags + k + b, 8);
      mask |= ((word * kByteBits) >> 56) << b;
    }
    for (; b < n; ++b) mask |= uint64_t(flags[k + b]) << b;
    for (; mask; mask &= mask - 1) visit(k + __builtin_ctzll(mask));
  }
}

// Each pixel's fired values in channel order: pixel p's list is (channel[j], its delta
// value[j]) for j in [first[p], first[p] + count[p]). Every chunk of pixels lists into its own
// region (room for all its values), so chunks are listed in parallel without offsets computed
// first; NHWC chunks list compactly, NCHW ones at C_in slots per pixel.
struct FiredLists {
  const int64_t* first;
  const int32_t* count;
  const int32_t* channel;
  int64_t begin(int64_t pixel) const { return first[pixel]; }
  int64_t end(int64_t pixel) const { return first[pixel] + count[pixel]; }
  FiredLists image(int64_t n, int64_t plane) const {
    return {first + n * plane, count + n * plane, channel};
  }
};

// Lists the fired values (|x - ref| > threshold) of one image's pixels [p0, p1) (first,
// count: that image's) from index `region` of channel and value on; returns false on NaN/Inf.
// Writes only the lists; flags: scratch of max(channels, p1 - p0) bytes.
template <typename T>
__attribute__((always_inline)) inline bool list_impl(const T* x, const T* ref, int64_t channels,
                                                     PixelLayout l, int64_t p0, int64_t p1,
                                                     T threshold, uint8_t* flags, int64_t region,
                                                     int64_t* first, int32_t* count,
                                                     int32_t* channel, T* value) {
  T poison = 0;          // x * 0 summed: NaN exactly when some x is NaN or Inf
  if (l.channel == 1) {  // NHWC: channels contiguous
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * l.pixel;
      const T* rp = ref + p * l.pixel;
#pragma omp simd reduction(+ : poison)
      for (int64_t c = 0; c < channels; ++c) {
        poison += xp[c] * T(0);
        flags[c] = std::abs(xp[c] - rp[c]) > threshold;
      }
      int64_t k = region;
      for_flagged(flags, 1, 0, channels, [&](int64_t c) {
        channel[k] = static_cast<int32_t>(c);
        value[k++] = xp[c] - rp[c];
      });
      first[p] = region;
      count[p] = static_cast<int32_t>(k - region);
      region = k;
    }
  } else if (l.pixel == 1) {  // NCHW: pixels contiguous
    std::fill(count + p0, count + p1, 0);
    for (int64_t p = p0; p < p1; ++p) first[p] = region + (p - p0) * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const T* xc = x + c * l.channel;
      const T* rc = ref + c * l.channel;
#pragma omp simd reduction(+ : poison)
      for (int64_t p = p0; p < p1; ++p) {
        poison += xc[p] * T(0);
        flags[p - p0] = std::abs(xc[p] - rc[p]) > threshold;
      }
      for_flagged(flags, 1, 0, p1 - p0, [&](int64_t i) {
        const int64_t p = p0 + i, k = first[p] + count[p]++;
        channel[k] = static_cast<int32_t>(c);
        value[k] = xc[p] - rc[p];
      });
    }
  } else {  // any other strides
    for (int64_t p = p0; p < p1; ++p) {
      int64_t k = region;
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t i = c * l.channel + p * l.pixel;
        poison += x[i] * T(0);
        if (std::abs(x[i] - ref[i]) > threshold) {
          channel[k] = static_cast<int32_t>(c);
          value[k++] = x[i] - ref[i];
        }
      }
      first[p] = region;
      count[p] = static_cast<int32_t>(k - region);
      region = k;
    }
  }
  return poison == poison;
}

MMEFF_CPU_CLONES bool list_fired(const float* x, const float* ref, int64_t channels, PixelLayout l,
                                 int64_t p0, int64_t p1, float threshold, uint8_t* flags,
                                 int64_t region, int64_t* first, int32_t* count, int32_t* channel,
                                 float* value) {
  return list_impl(x, ref, channels, l, p0, p1, threshold, flags, region, first, count, channel,
                   value);
}

MMEFF_CPU_CLONES bool list_fired(const double* x, const double* ref, int64_t channels,
                                 PixelLayout l, int64_t p0, int64_t p1, double threshold,
                                 uint8_t* flags, int64_t region, int64_t* first, int32_t* count,
                                 int32_t* channel, double* value) {
  return list_impl(x, ref, channels, l, p0, p1, threshold, flags, region, first, count, channel,
                   value);
}

// Where the output-channel row of (tap, input channel) lies in packed_weight (elements).
struct PackedLayout {
  int64_t tap, channel;
};

// Output position (n, oy, ox): sum of the fired deltas of its window through the weight.
struct GatherArgs {
  Conv2dGeometry g;
  FiredLists lists;     // of one image, or of all (N * H * W pixels)
  PackedLayout packed;  // of packed_weight
  PixelLayout out;      // of the output
};

// 64-byte vectors (GCC vector extensions): one AVX-512 register, two AVX2 or four SSE ones,
// whichever the clone is compiled for.
typedef float f32x16 __attribute__((vector_size(64)));
typedef double f64x8 __attribute__((vector_size(64)));
template <typename T>
struct Vector;
template <>
struct Vector<float> {
  using type = f32x16;
};
template <>
struct Vector<double> {
  using type = f64x8;
};

// The window's pixels (flat indices) of output position (oy, ox); returns their count.
inline int window_pixels(const Conv2dGeometry& g, int64_t oy, int64_t ox, int64_t* pixels) {
  int count = 0;
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    const int64_t iy = oy * g.stride_h - g.pad_h + ky * g.dil_h;
    if (iy < 0 || iy >= g.in_h) continue;
    for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
      const int64_t ix = ox * g.stride_w - g.pad_w + kx * g.dil_w;
      if (ix < 0 || ix >= g.in_w) continue;
      pixels[2 * count] = ky * g.kernel_w + kx;  // tap
      pixels[2 * count + 1] = iy * g.in_w + ix;  // pixel
      ++count;
    }
  }
  return count;
}

// groups == 1: R vectors of output channels [co, co + R * lanes) summed in registers over
// the window's fired values, then added to the output at `out` (that position's channel 0).
template <typename T, int R>
__attribute__((always_inline)) inline void gather_channels(const GatherArgs& a, const T* value,
                                                           const T* packed, const int64_t* taps,
                                                           int n_taps, int64_t co, T* out) {
  using V = typename Vector<T>::type;
  constexpr int kLanes = sizeof(V) / sizeof(T);
  V acc[R];
  for (int r = 0; r < R; ++r) acc[r] = V{};
  for (int t = 0; t < n_taps; ++t) {
    const T* tap = packed + taps[2 * t] * a.packed.tap + co;
    const int64_t pixel = taps[2 * t + 1];
    for (int64_t j = a.lists.begin(pixel), end = a.lists.end(pixel); j < end; ++j) {
      const T* w = tap + a.lists.channel[j] * a.packed.channel;
      const T v = value[j];
      for (int r = 0; r < R; ++r) {
        V wv;
        __builtin_memcpy(&wv, w + r * kLanes, sizeof(V));
        acc[r] += v * wv;
      }
    }
  }
  if (a.out.channel == 1) {  // NHWC: the channels of a position are contiguous
    for (int r = 0; r < R; ++r) {
      V o;
      __builtin_memcpy(&o, out + co + r * kLanes, sizeof(V));
      o += acc[r];
      __builtin_memcpy(out + co + r * kLanes, &o, sizeof(V));
    }
  } else {
    for (int r = 0; r < R; ++r) {
      for (int i = 0; i < kLanes; ++i) out[(co + r * kLanes + i) * a.out.channel] += acc[r][i];
    }
  }
}

template <typename T>
__attribute__((always_inline)) inline int64_t gather_row_impl(const GatherArgs& a, const T* value,
                                                              const T* packed, T* acc,
                                                              int64_t* taps, T* out, int64_t n,
                                                              int64_t oy) {
  using V = typename Vector<T>::type;
  constexpr int64_t kLanes = sizeof(V) / sizeof(T);
  const Conv2dGeometry& g = a.g;
  const int64_t cout_g = g.out_per_group(), cin_g = g.in_per_group();
  const int64_t plane = g.in_h * g.in_w;
  const FiredLists lists = a.lists.image(n, plane);
  const GatherArgs image{g, lists, a.packed, a.out};
  int64_t fired_taps = 0;
  for (int64_t ox = 0; ox < g.out_w; ++ox) {
    const int n_taps = window_pixels(g, oy, ox, taps);
    int64_t window = 0;
    for (int t = 0; t < n_taps; ++t) window += lists.count[taps[2 * t + 1]];
    if (window == 0) continue;
    fired_taps += window;
    T* o = out + n * a.out.image + (oy * g.out_w + ox) * a.out.pixel;
    int64_t co = 0;
    if (g.groups == 1) {
      for (; co + 4 * kLanes <= cout_g; co += 4 * kLanes) {
        gather_channels<T, 4>(image, value, packed, taps, n_taps, co, o);
      }
      // the 1-3 vectors left: one more run over the lists
      switch ((cout_g - co) / kLanes) {
        case 3:
          gather_channels<T, 3>(image, value, packed, taps, n_taps, co, o);
          break;
        case 2:
          gather_channels<T, 2>(image, value, packed, taps, n_taps, co, o);
          break;
        case 1:
          gather_channels<T, 1>(image, value, packed, taps, n_taps, co, o);
          break;
      }
      co += (cout_g - co) / kLanes * kLanes;
      if (co == cout_g) continue;
    }
    // grouped convs and the channels left over: one scalar accumulator per output channel
    std::fill(acc, acc + g.out_channels, T(0));
    for (int t = 0; t < n_taps; ++t) {
      const T* tap = packed + taps[2 * t] * a.packed.tap;
      const int64_t pixel = taps[2 * t + 1];
      for (int64_t j = lists.begin(pixel), end = lists.end(pixel); j < end; ++j) {
        const int64_t c = lists.channel[j];
        const T v = value[j];
        const T* __restrict w = tap + c * a.packed.channel;
        T* __restrict dst = acc + (c / cin_g) * cout_g;
        for (int64_t k = co; k < cout_g; ++k) dst[k] += v * w[k];
      }
    }
    for (int64_t group = 0; group < g.groups; ++group) {
      for (int64_t k = co; k < cout_g; ++k) {
        o[(group * cout_g + k) * a.out.channel] += acc[group * cout_g + k];
      }
    }
  }
  return fired_taps;
}

MMEFF_CPU_CLONES int64_t gather_row(const GatherArgs& a, const float* value, const float* packed,
                                    float* acc, int64_t* taps, float* out, int64_t n, int64_t oy) {
  return gather_row_impl(a, value, packed, acc, taps, out, n, oy);
}

MMEFF_CPU_CLONES int64_t gather_row(const GatherArgs& a, const double* value, const double* packed,
                                    double* acc, int64_t* taps, double* out, int64_t n,
                                    int64_t oy) {
  return gather_row_impl(a, value, packed, acc, taps, out, n, oy);
}

// Scatter form (where it measured faster than gathering): each fired input pixel sums its
// deltas through all 9 taps of a 3x3 kernel, output channels [0, R * lanes), in 9 * R
// registers, then adds each sum to the output position that tap reaches. A value is loaded
// once, not once per output position that sees it.
struct ScatterArgs {
  Conv2dGeometry g;
  FiredLists lists;     // of one image
  PackedLayout packed;  // as in GatherArgs
  int64_t out_pixel;    // elements between output positions (channels contiguous)
};

template <typename T, int R>
__attribute__((always_inline)) inline void scatter_pixel(const ScatterArgs& a, const T* value,
                                                         const T* packed, int64_t j0, int64_t j1,
                                                         int64_t iy, int64_t ix, T* out) {
  using V = typename Vector<T>::type;
  constexpr int kLanes = sizeof(V) / sizeof(T);
  const Conv2dGeometry& g = a.g;
  V acc[9][R];
  for (int t = 0; t < 9; ++t)
    for (int r = 0; r < R; ++r) acc[t][r] = V{};
  for (int64_t j = j0; j < j1; ++j) {
    const T* w = packed + a.lists.channel[j] * a.packed.channel;
    const T v = value[j];
    for (int t = 0; t < 9; ++t) {
      for (int r = 0; r < R; ++r) {
        V wv;
        __builtin_memcpy(&wv, w + t * a.packed.tap + r * kLanes, sizeof(V));
        acc[t][r] += v * wv;
      }
    }
  }
  for (int ky = 0; ky < 3; ++ky) {
    const int64_t oy = iy + g.pad_h - ky * g.dil_h;
    if (oy < 0 || oy >= g.out_h) continue;
    for (int kx = 0; kx < 3; ++kx) {
      const int64_t ox = ix + g.pad_w - kx * g.dil_w;
      if (ox < 0 || ox >= g.out_w) continue;
      T* o = out + (oy * g.out_w + ox) * a.out_pixel;
      for (int r = 0; r < R; ++r) {
        V sum;
        __builtin_memcpy(&sum, o + r * kLanes, sizeof(V));
        sum += acc[3 * ky + kx][r];
        __builtin_memcpy(o + r * kLanes, &sum, sizeof(V));
      }
    }
  }
}

// Of the 3 taps along one axis of input index i, how many reach an output index in [0, size).
inline int64_t taps_reaching(int64_t i, int64_t pad, int64_t dil, int64_t size) {
  int64_t count = 0;
  for (int64_t k = 0; k < 3; ++k) count += i + pad - k * dil >= 0 && i + pad - k * dil < size;
  return count;
}

// Input rows [iy0, iy1) of one image (lists, value, out: that image's); returns the executed
// MACs.
template <typename T>
__attribute__((always_inline)) inline int64_t scatter_rows_impl(const ScatterArgs& a,
                                                                const T* value, const T* packed,
                                                                T* out, int64_t iy0, int64_t iy1) {
  constexpr int64_t kLanes = sizeof(typename Vector<T>::type) / sizeof(T);
  const Conv2dGeometry& g = a.g;
  int64_t taps = 0;
  for (int64_t iy = iy0; iy < iy1; ++iy) {
    const int64_t rows = taps_reaching(iy, g.pad_h, g.dil_h, g.out_h);
    if (rows == 0) continue;
    for (int64_t ix = 0; ix < g.in_w; ++ix) {
      const int64_t j0 = a.lists.begin(iy * g.in_w + ix), j1 = a.lists.end(iy * g.in_w + ix);
      if (j0 == j1) continue;
      taps += (j1 - j0) * rows * taps_reaching(ix, g.pad_w, g.dil_w, g.out_w);
      if (g.out_channels == kLanes) {
        scatter_pixel<T, 1>(a, value, packed, j0, j1, iy, ix, out);
      } else {
        scatter_pixel<T, 2>(a, value, packed, j0, j1, iy, ix, out);
      }
    }
  }
  return taps * g.out_channels;
}

MMEFF_CPU_CLONES int64_t scatter_rows(const ScatterArgs& a, const float* value, const float* packed,
                                      float* out, int64_t iy0, int64_t iy1) {
  return scatter_rows_impl(a, value, packed, out, iy0, iy1);
}

MMEFF_CPU_CLONES int64_t scatter_rows(const ScatterArgs& a, const double* value,
                                      const double* packed, double* out, int64_t iy0, int64_t iy1) {
  return scatter_rows_impl(a, value, packed, out, iy0, iy1);
}

// Runs body(i) for every i in [0, items) on at::parallel_for's threads, each taking the next
// item when it is free (the work of an item varies with where the frame changed).
template <typename Body>
void for_items_dynamically(int64_t items, Body&& body) {
  std::atomic<int64_t> next{0};
  at::parallel_for(0, std::min<int64_t>(at::get_num_threads(), items), 1, [&](int64_t, int64_t) {
    for (int64_t i = next++; i < items; i = next++) body(i);
  });
}

// Runs body(n, p0, p1) for every chunk [p0, p1) of kPixelChunk pixels of every image n,
// chunks in parallel.
template <typename Body>
void for_pixel_chunks(const Conv2dGeometry& g, Body&& body) {
  const int64_t plane = g.in_h * g.in_w;
  const int64_t chunks_per_image = (plane + kPixelChunk - 1) / kPixelChunk;
  at::parallel_for(0, g.batch * chunks_per_image, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / chunks_per_image, p0 = (i % chunks_per_image) * kPixelChunk;
      body(n, p0, std::min(p0 + kPixelChunk, plane));
    }
  });
}

// A frame's fired values, listed per pixel (FiredLists) in the calling thread's scratch
// (ScratchSlot::kFiredLists): valid until that thread lists the next frame.
template <typename T>
struct FrameLists {
  FiredLists lists;
  const int32_t* channel;
  const T* value;
  int64_t fired;  // how many values fired
};

// Step 1, list: the values of x that moved more than `threshold` from ref. Raises a
// ValueError on NaN/Inf in x; writes nothing but the lists.
template <typename T>
FrameLists<T> list_step(const Conv2dGeometry& g, PixelLayout in, const T* x, const T* ref,
                        T threshold) {
  const int64_t plane = g.in_h * g.in_w, pixels = g.batch * plane;
  const int64_t values = pixels * g.in_channels;
  // first (int64) per pixel, value (T) and channel (int32) with room for every value, count
  // (int32) per pixel
  uint8_t* scratch = thread_scratch<uint8_t>(
      ScratchSlot::kFiredLists,
      pixels * (sizeof(int64_t) + sizeof(int32_t)) + values * (sizeof(T) + sizeof(int32_t)));
  int64_t* first = reinterpret_cast<int64_t*>(scratch);
  T* value = reinterpret_cast<T*>(first + pixels);
  int32_t* channel = reinterpret_cast<int32_t*>(value + values);
  int32_t* count = channel + values;
  std::atomic<bool> finite{true};
  std::atomic<int64_t> fired_total{0};
  for_pixel_chunks(g, [&](int64_t n, int64_t p0, int64_t p1) {
    uint8_t* flags =
        thread_scratch<uint8_t>(ScratchSlot::kFlags, std::max(g.in_channels, kPixelChunk));
    if (!list_fired(x + n * in.image, ref + n * in.image, g.in_channels, in, p0, p1, threshold,
                    flags, (n * plane + p0) * g.in_channels, first + n * plane, count + n * plane,
                    channel, value)) {
      finite = false;
    }
    int64_t fired = 0;
    for (int64_t p = p0; p < p1; ++p) fired += count[n * plane + p];
    fired_total += fired;
  });
  TORCH_CHECK_VALUE(finite, "delta_conv2d_frame: the input contains NaN or Inf");
  return {FiredLists{first, count, channel}, channel, value, fired_total};
}

// Calls visit(j, i) for every listed value, in parallel: j its index in the lists, i its
// index in x.
template <typename T, typename Visit>
void for_listed(const Conv2dGeometry& g, PixelLayout in, const FrameLists<T>& f, Visit&& visit) {
  const int64_t plane = g.in_h * g.in_w;
  for_pixel_chunks(g, [&](int64_t n, int64_t p0, int64_t p1) {
    for (int64_t p = n * plane + p0; p < n * plane + p1; ++p) {
      const int64_t at_pixel = n * in.image + (p - n * plane) * in.pixel;
      for (int64_t j = f.lists.begin(p); j < f.lists.end(p); ++j) {
        visit(j, at_pixel + f.channel[j] * in.channel);
      }
    }
  });
}

// Step 2, commit: the reference takes the fired values of x.
template <typename T>
void commit_step(const Conv2dGeometry& g, PixelLayout in, const FrameLists<T>& f, const T* x,
                 T* ref) {
  for_listed(g, in, f, [&](int64_t, int64_t i) { ref[i] = x[i]; });
}

// Step 3, dense: output += conv2d(delta) with the listed changes in an otherwise zero delta
// (x's strides); returns the dense MACs.
template <typename T>
int64_t dense_step(const Conv2dGeometry& g, PixelLayout in, const FrameLists<T>& f,
                   const at::Tensor& x, const at::Tensor& output, const at::Tensor& weight,
                   at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  at::Tensor delta = at::zeros_like(x);
  T* dp = delta.mutable_data_ptr<T>();
  for_listed(g, in, f, [&](int64_t j, int64_t i) { dp[i] = f.value[j]; });
  output.add_(at::conv2d(delta, weight, {}, stride, padding, dilation, g.groups));
  return dense_macs(g);
}

// Whether the scatter step takes the conv: stride 1, ungrouped 3x3, a channels_last output
// of one or two vectors of output channels.
template <typename T>
bool scatter_fits(const Conv2dGeometry& g, PixelLayout out) {
  constexpr int64_t kLanes = sizeof(typename Vector<T>::type) / sizeof(T);
  return g.stride_h == 1 && g.stride_w == 1 && g.groups == 1 && g.kernel_h == 3 &&
         g.kernel_w == 3 && out.channel == 1 &&
         (g.out_channels == kLanes || g.out_channels == 2 * kLanes);
}

// Step 4, scatter: every fired pixel adds its values through all taps to the output. Bands
// of 2 * dil_h input rows reach output rows that overlap only their neighbours': the even
// bands go in parallel, then the odd ones. Returns the executed MACs.
template <typename T>
int64_t scatter_step(const Conv2dGeometry& g, const FrameLists<T>& f, const T* packed,
                     PackedLayout packed_layout, T* out, PixelLayout out_layout) {
  const int64_t plane = g.in_h * g.in_w;
  const int64_t band = 2 * g.dil_h, bands = (g.in_h + band - 1) / band;
  std::atomic<int64_t> macs{0};
  for (int64_t phase = 0; phase < 2; ++phase) {
    const int64_t per_image = (bands - phase + 1) / 2;
    for_items_dynamically(g.batch * per_image, [&](int64_t i) {
      const int64_t n = i / per_image, iy0 = (phase + i % per_image * 2) * band;
      const ScatterArgs image{g, f.lists.image(n, plane), packed_layout, out_layout.pixel};
      macs += scatter_rows(image, f.value, packed, out + n * out_layout.image, iy0,
                           std::min(iy0 + band, g.in_h));
    });
  }
  return macs;
}

// Step 5, gather: every output position sums the fired values of its window (output rows in
// parallel). Returns the executed MACs.
template <typename T>
int64_t gather_step(const Conv2dGeometry& g, const FrameLists<T>& f, const T* packed,
                    PackedLayout packed_layout, T* out, PixelLayout out_layout) {
  const GatherArgs args{g, f.lists, packed_layout, out_layout};
  std::atomic<int64_t> fired_taps{0};
  at::parallel_for(0, g.batch * g.out_h, 1, [&](int64_t begin, int64_t end) {
    T* acc = thread_scratch<T>(ScratchSlot::kAccumulator, g.out_channels);
    int64_t* window = thread_scratch<int64_t>(ScratchSlot::kTaps, 2 * g.kernel_h * g.kernel_w);
    int64_t local = 0;
    for (int64_t row = begin; row < end; ++row) {
      local += gather_row(args, f.value, packed, acc, window, out, row / g.out_h, row % g.out_h);
    }
    fired_taps += local;
  });
  return fired_taps * g.out_per_group();
}

// The undo record of a listed frame: the pixels with a fired value and their reference, the
// output positions whose window holds one of them and their output.
template <typename T>
FrameUndo undo_step(const Conv2dGeometry& g, const FrameLists<T>& f, const at::Tensor& reference,
                    const at::Tensor& output, at::IntArrayRef stride, at::IntArrayRef padding,
                    at::IntArrayRef dilation) {
  FrameUndo undo;
  undo.in_mask = at::empty({g.batch, g.in_h, g.in_w}, reference.options().dtype(at::kBool));
  bool* fired = undo.in_mask.mutable_data_ptr<bool>();
  for (int64_t p = 0; p < undo.in_mask.numel(); ++p) fired[p] = f.lists.count[p] > 0;
  undo.old_in = values_at(reference, undo.in_mask);
  const at::Tensor reach = at::ones({1, 1, g.kernel_h, g.kernel_w}, reference.options());
  undo.out_mask = at::conv2d(undo.in_mask.unsqueeze(1).to(reference.scalar_type()), reach, {},
                             stride, padding, dilation)
                      .squeeze(1) > 0;
  undo.old_out = values_at(output, undo.out_mask);
  return undo;
}

// The steps in order; returns the executed MACs. `undo`, if given, receives the undo record.
template <typename T>
int64_t delta_conv2d_frame_steps(const Conv2dGeometry& g, const at::Tensor& x,
                                 const at::Tensor& reference, const at::Tensor& output,
                                 const at::Tensor& weight, const at::Tensor& packed_weight,
                                 double threshold, at::IntArrayRef stride, at::IntArrayRef padding,
                                 at::IntArrayRef dilation, double dense_above, FrameUndo* undo) {
  const PixelLayout in = pixel_layout(x);
  const T* xp = x.const_data_ptr<T>();
  T* rp = reference.mutable_data_ptr<T>();
  const FrameLists<T> f = list_step(g, in, xp, rp, static_cast<T>(threshold));
  if (undo != nullptr) *undo = undo_step(g, f, reference, output, stride, padding, dilation);
  if (f.fired == 0) return 0;
  commit_step(g, in, f, xp, rp);  // after the NaN/Inf check: a rejected frame changes nothing
  if (f.fired >= dense_above * static_cast<double>(x.numel())) {
    return dense_step(g, in, f, x, output, weight, stride, padding, dilation);
  }
  const T* packed = packed_weight.const_data_ptr<T>();
  T* out = output.mutable_data_ptr<T>();
  const PixelLayout out_layout = pixel_layout(output);
  const PackedLayout packed_layout{g.out_per_group(), g.kernel_h * g.kernel_w * g.out_per_group()};
  if (scatter_fits<T>(g, out_layout)) {
    return scatter_step(g, f, packed, packed_layout, out, out_layout);
  }
  return gather_step(g, f, packed, packed_layout, out, out_layout);
}

// The checks and the steps; returns the executed MACs.
int64_t delta_conv2d_frame_run(const at::Tensor& x, const at::Tensor& reference,
                               const at::Tensor& output, const at::Tensor& weight,
                               const at::Tensor& packed_weight, double threshold,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, double dense_above,
                               FrameUndo* undo) {
  const Conv2dGeometry g = check_delta_conv2d_frame_args(
      x, reference, output, weight, packed_weight, stride, padding, dilation, groups);
  int64_t executed = 0;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "delta_conv2d_frame_cpu", [&] {
    executed =
        delta_conv2d_frame_steps<scalar_t>(g, x, reference, output, weight, packed_weight,
                                           threshold, stride, padding, dilation, dense_above, undo);
  });
  return executed;
}

at::Tensor delta_conv2d_frame_cpu(const at::Tensor& x, const at::Tensor& reference,
                                  const at::Tensor& output, const at::Tensor& weight,
                                  const at::Tensor& packed_weight, double threshold,
                                  at::IntArrayRef stride, at::IntArrayRef padding,
                                  at::IntArrayRef dilation, int64_t groups, double dense_above) {
  return at::scalar_tensor(
      delta_conv2d_frame_run(x, reference, output, weight, packed_weight, threshold, stride,
                             padding, dilation, groups, dense_above, nullptr),
      at::kLong);
}

LoggedFrame delta_conv2d_frame_logged_cpu(const at::Tensor& x, const at::Tensor& reference,
                                          const at::Tensor& output, const at::Tensor& weight,
                                          const at::Tensor& packed_weight, double threshold,
                                          at::IntArrayRef stride, at::IntArrayRef padding,
                                          at::IntArrayRef dilation, int64_t groups,
                                          double dense_above) {
  FrameUndo undo;
  const int64_t executed =
      delta_conv2d_frame_run(x, reference, output, weight, packed_weight, threshold, stride,
                             padding, dilation, groups, dense_above, &undo);
  return undo.with_count(executed);
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) {
  m.impl("delta_conv2d_frame", &delta_conv2d_frame_cpu);
  m.impl("delta_conv2d_frame_logged", &delta_conv2d_frame_logged_cpu);
}

}  // namespace mmeff
