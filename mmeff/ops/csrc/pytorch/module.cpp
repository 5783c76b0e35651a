// The Python module mmeff.ops._ext: importing it loads this library, whose static
// initialisers register the mmeff operators with the PyTorch dispatcher (torch.ops.mmeff.*).
#include <Python.h>

extern "C" {
PyObject* PyInit__ext(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_ext",  // name
      "mmeff compiled operators; use them through torch.ops.mmeff or mmeff.ops.",
      -1,       // no per-module state
      nullptr,  // no methods: the operators live in torch.ops.mmeff
  };
  return PyModule_Create(&module_def);
}
}
