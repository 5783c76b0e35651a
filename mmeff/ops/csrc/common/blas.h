// Column-major GEMM through the BLAS that libtorch links (MKL on x86_64 builds, OpenBLAS on
// others): the Fortran symbols sgemm_/dgemm_, which libtorch exports while ATen's own
// at::native::cpublas::gemm is not exported to extensions.
#pragma once

#include <c10/util/Exception.h>

#include <cstdint>
#include <limits>

extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc);
}

namespace mmeff {
namespace blas {

inline int to_int(int64_t v) {
  TORCH_CHECK(v <= std::numeric_limits<int>::max(), "mmeff: GEMM dimension ", v,
              " exceeds the 32-bit BLAS interface");
  return static_cast<int>(v);
}

// C(m x n) = alpha * op(A)(m x k) * op(B)(k x n) + beta * C, all column-major.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

template <>
inline void gemm<float>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                        float* c, int64_t ldc) {
  const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
  const int im = to_int(m), in = to_int(n), ik = to_int(k), ilda = to_int(lda), ildb = to_int(ldb),
            ildc = to_int(ldc);
  sgemm_(&ta, &tb, &im, &in, &ik, &alpha, a, &ilda, b, &ildb, &beta, c, &ildc);
}

template <>
inline void gemm<double>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                         const double* a, int64_t lda, const double* b, int64_t ldb, double beta,
                         double* c, int64_t ldc) {
  const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
  const int im = to_int(m), in = to_int(n), ik = to_int(k), ilda = to_int(lda), ildb = to_int(ldb),
            ildc = to_int(ldc);
  dgemm_(&ta, &tb, &im, &in, &ik, &alpha, a, &ilda, b, &ildb, &beta, c, &ildc);
}

}  // namespace blas
}  // namespace mmeff
