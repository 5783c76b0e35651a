// MMEFF_HOST_DEVICE: marks small geometry helpers callable from CUDA kernels and host code.
#pragma once

#ifdef __CUDACC__
#define MMEFF_HOST_DEVICE __host__ __device__
#else
#define MMEFF_HOST_DEVICE
#endif
