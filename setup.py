"""Build and install mmeff with its compiled op library ``mmeff.ops._ext``.

The CPU kernels are always built. The CUDA kernels are built when a CUDA toolkit is found
(``nvcc`` and ``libcudart`` under ``CUDA_HOME``) or ``FORCE_CUDA=1``; ``FORCE_CUDA=0`` skips them.
Build without isolation so the extension compiles against the installed torch:
``pip install --no-build-isolation -e .``.
"""
import glob
import os
import shutil
from setuptools import find_packages, setup

CSRC = os.path.join('mmeff', 'ops', 'csrc')
DESCRIPTION = 'Efficient video perception for OpenMMLab: SkipConv, sparse convs, streaming 3D CNNs'


def find_cuda_home():
    """Return the CUDA toolkit root (the folder with bin/nvcc and lib64/libcudart.so) or None.

    torch guesses CUDA_HOME from the folder of the ``nvcc`` on PATH; where that ``nvcc`` is a
    wrapper script (e.g. /usr/local/bin/nvcc) the guess has no libraries and linking fails with
    ``cannot find -lcudart``. Look for a folder that really holds the toolkit instead.
    """
    candidates = [os.environ.get('CUDA_HOME'), os.environ.get('CUDA_PATH'), '/usr/local/cuda']
    nvcc = shutil.which('nvcc')
    if nvcc:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
        candidates += sorted(glob.glob('/usr/local/cuda-*'), reverse=True)
    for root in candidates:
        if root and os.path.isfile(os.path.join(root, 'bin', 'nvcc')) and glob.glob(
                os.path.join(root, 'lib*', 'libcudart.so*')):
            return root
    return None


def want_cuda(cuda_home):
    force = os.environ.get('FORCE_CUDA')
    if force is not None:
        return force == '1'
    return cuda_home is not None


def make_extensions():
    cuda_home = find_cuda_home()
    with_cuda = want_cuda(cuda_home)
    if with_cuda:
        if cuda_home is None:
            raise RuntimeError(
                'FORCE_CUDA=1 but no CUDA toolkit (bin/nvcc, lib64/libcudart.so) found; '
                'set CUDA_HOME to the toolkit root')
        # Must be set before torch.utils.cpp_extension reads it at import time.
        os.environ['CUDA_HOME'] = cuda_home
        # Without a GPU torch cannot detect the architecture; build for common ones and PTX.
        os.environ.setdefault('TORCH_CUDA_ARCH_LIST', '7.5;8.0;9.0+PTX')

    from torch.utils.cpp_extension import CppExtension, CUDAExtension

    sources = sorted(
        glob.glob(os.path.join(CSRC, 'pytorch', '*.cpp')) +
        glob.glob(os.path.join(CSRC, 'pytorch', 'cpu', '*.cpp')))
    # No -std flag: torch.utils.cpp_extension picks the standard its headers need (C++20).
    extra_compile_args = {'cxx': ['-O3', '-fopenmp']}
    define_macros = []
    extension = CppExtension
    if with_cuda:
        sources += sorted(glob.glob(os.path.join(CSRC, 'pytorch', 'cuda', '*.cu')))
        extra_compile_args['nvcc'] = ['-O3']
        define_macros.append(('MMEFF_WITH_CUDA', None))
        extension = CUDAExtension
    print(f'mmeff: building ops for CPU{" and CUDA (" + cuda_home + ")" if with_cuda else " only"}')
    return [
        extension(
            name='mmeff.ops._ext',
            sources=sources,
            include_dirs=[os.path.abspath(os.path.join(CSRC, 'common'))],
            define_macros=define_macros,
            extra_compile_args=extra_compile_args,
            extra_link_args=['-fopenmp'],
        )
    ]


def read_version():
    scope = {}
    with open(os.path.join('mmeff', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def main():
    ext_modules = make_extensions()  # sets CUDA_HOME before torch.utils.cpp_extension reads it
    from torch.utils.cpp_extension import BuildExtension

    setup(
        name='mmeff',
        version=read_version(),
        description=DESCRIPTION,
        packages=find_packages(exclude=('tests', 'tests.*', 'tools', 'configs')),
        package_data={'mmeff': ['ops/csrc/**/*']},
        python_requires='>=3.9',
        install_requires=['torch', 'mmengine>=0.10', 'mmcv>=2.0,<2.2'],
        ext_modules=ext_modules,
        cmdclass={'build_ext': BuildExtension.with_options(use_ninja=True)},
        zip_safe=False,
    )


if __name__ == '__main__':
    main()
