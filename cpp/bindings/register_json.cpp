// build_json: Python payload description (dict/list/tuple/str/int/float/bool/None) -> compact UTF-8 JSON bytes.
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "aiperf/encode/json_value.hpp"
#include "aiperf/encode/json_writer.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
namespace {

// Deep enough for any real payload; stops a self-containing list from overflowing the C++ stack.
constexpr int kMaxNestingDepth = 512;

std::string utf8_of(PyObject* text) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(text, &size);
  if (data == nullptr) throw py::error_already_set();  // e.g. a lone surrogate
  return std::string(data, static_cast<std::size_t>(size));
}

std::string repr_of(PyObject* object) { return py::repr(py::handle(object)).cast<std::string>(); }

JsonValue to_json_value(PyObject* object, int depth) {
  if (depth > kMaxNestingDepth) {
    throw py::value_error("build_json: nesting deeper than " + std::to_string(kMaxNestingDepth) +
                          " levels (circular reference?)");
  }
  if (object == Py_None) return JsonValue(nullptr);
  // bool before int: True is an int in Python.
  if (PyBool_Check(object)) return JsonValue(object == Py_True);
  if (PyLong_Check(object)) {
    int overflow = 0;
    const long long i = PyLong_AsLongLongAndOverflow(object, &overflow);
    if (overflow != 0) {
      throw py::value_error("build_json: integer " + repr_of(object) + " does not fit in 64 bits");
    }
    if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
    return JsonValue(static_cast<std::int64_t>(i));
  }
  if (PyFloat_Check(object)) {
    const double d = PyFloat_AS_DOUBLE(object);
    if (!std::isfinite(d)) throw py::value_error("build_json: " + repr_of(object) + " is not allowed in JSON");
    return JsonValue(d);
  }
  if (PyUnicode_Check(object)) return JsonValue(utf8_of(object));
  if (PyDict_Check(object)) {
    JsonObject members;
    members.reserve(static_cast<std::size_t>(PyDict_Size(object)));
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t position = 0;
    while (PyDict_Next(object, &position, &key, &value)) {
      if (!PyUnicode_Check(key)) {
        throw py::type_error("build_json: dict keys must be str, got " + repr_of(key) + " (" + Py_TYPE(key)->tp_name +
                             ")");
      }
      members.emplace_back(utf8_of(key), to_json_value(value, depth + 1));
    }
    return JsonValue(std::move(members));
  }
  if (PyList_Check(object) || PyTuple_Check(object)) {
    const bool is_list = PyList_Check(object);
    const Py_ssize_t size = is_list ? PyList_GET_SIZE(object) : PyTuple_GET_SIZE(object);
    JsonArray elements;
    elements.reserve(static_cast<std::size_t>(size));
    for (Py_ssize_t i = 0; i < size; ++i) {
      PyObject* element = is_list ? PyList_GET_ITEM(object, i) : PyTuple_GET_ITEM(object, i);
      elements.push_back(to_json_value(element, depth + 1));
    }
    return JsonValue(std::move(elements));
  }
  throw py::type_error(std::string("build_json: object of type ") + Py_TYPE(object)->tp_name +
                       " is not JSON serializable");
}

}  // namespace

void register_json(py::module_& m) {
  m.def(
      "build_json",
      [](py::handle obj) {
        const JsonValue tree = to_json_value(obj.ptr(), 0);
        std::string out;
        JsonWriter writer(out);
        writer.value(tree);
        return py::bytes(out);
      },
      py::arg("obj"),
      "Serialize dict/list/tuple/str/int/float/bool/None (nested) to compact UTF-8 JSON bytes, keeping key order. "
      "Floats are written in shortest round-trip form; NaN/inf raise ValueError.");
}

}  // namespace aiperf::bindings
