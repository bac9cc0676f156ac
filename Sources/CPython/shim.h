// CPython for Swift. The libc headers come first so that glibc sees the same feature
// macros as SwiftGlibc (pyconfig.h defines _GNU_SOURCE and friends); otherwise fd_set and
// other structs differ between the two modules and clean builds fail.
#include <sys/select.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>
#define PY_SSIZE_T_CLEAN
#include <Python.h>

// Macros and C globals that do not import into Swift 6.
static inline PyObject *cpy_none(void) { return Py_None; }
static inline PyObject *cpy_true(void) { return Py_True; }
static inline PyObject *cpy_false(void) { return Py_False; }
static inline int cpy_is_none(PyObject *o) { return o == Py_None; }
static inline int cpy_long_check(PyObject *o) { return PyLong_Check(o); }
static inline int cpy_float_check(PyObject *o) { return PyFloat_Check(o); }
static inline int cpy_unicode_check(PyObject *o) { return PyUnicode_Check(o); }
static inline int cpy_bytes_check(PyObject *o) { return PyBytes_Check(o); }
static inline int cpy_tuple_check(PyObject *o) { return PyTuple_Check(o); }
static inline int cpy_list_check(PyObject *o) { return PyList_Check(o); }
static inline int cpy_dict_check(PyObject *o) { return PyDict_Check(o); }
static inline PyObject *cpy_exc_runtime_error(void) { return PyExc_RuntimeError; }
static inline PyObject *cpy_exc_value_error(void) { return PyExc_ValueError; }
