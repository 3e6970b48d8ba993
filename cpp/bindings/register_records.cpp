// Bindings of the records: the columns as numpy arrays over a RecordStore's buffers, RECORD_SCHEMA, and the
// ErrorKind and Phase enums; all of them expanded from record_columns.hpp and record.hpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string_view>

#include "aiperf/engine/record.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
namespace {

// A read-only numpy array viewing `data`; the capsule keeps the whole record store alive while any array does.
template <class T>
py::array column(const std::shared_ptr<const RecordStore>& store, const T* data, std::size_t size,
                 std::string_view dtype) {
  auto owner = std::make_unique<std::shared_ptr<const RecordStore>>(store);
  py::capsule base(owner.get(),
                   [](void* pointer) { delete static_cast<std::shared_ptr<const RecordStore>*>(pointer); });
  owner.release();
  static const T empty{};
  py::array array(py::dtype::of<T>(), {static_cast<py::ssize_t>(size)}, {static_cast<py::ssize_t>(sizeof(T))},
                  size > 0 ? data : &empty, base);
  array.attr("setflags")(py::arg("write") = false);
  if (dtype == "bool") return array.attr("view")(py::dtype::of<bool>());  // stored as uint8
  return array;
}

template <class T>
py::array column(const std::shared_ptr<const RecordStore>& store, const std::vector<T>& values,
                 std::string_view dtype) {
  return column(store, values.data(), values.size(), dtype);
}

py::array column(const std::shared_ptr<const RecordStore>& store, const std::string& text, std::string_view dtype) {
  return column(store, reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), dtype);
}

}  // namespace

py::dict records_dict(const std::shared_ptr<const RecordStore>& store) {
  const RecordStore& s = *store;
  py::dict d;
#define AIPERF_BIND_VALUES(name, type, dtype, ...) d[#name] = column(store, s.name, dtype);
#define AIPERF_BIND_OFFSETS(name, ...) d[#name] = column(store, s.name, "int64");
#define AIPERF_BIND_TEXT(offsets, text, ...)       \
  d[#offsets] = column(store, s.offsets, "int64"); \
  d[#text] = column(store, s.text, "uint8");
  AIPERF_RECORD_COLUMNS(AIPERF_BIND_VALUES, AIPERF_BIND_OFFSETS, AIPERF_BIND_VALUES, AIPERF_BIND_TEXT, AIPERF_BIND_TEXT,
                        AIPERF_BIND_TEXT)
#undef AIPERF_BIND_VALUES
#undef AIPERF_BIND_OFFSETS
#undef AIPERF_BIND_TEXT
  return d;
}

void register_records(py::module_& m) {
  py::list schema;
  auto add = [&schema](const char* name, const char* dtype, const char* kind) {
    schema.append(py::make_tuple(name, dtype, kind));
  };
#define AIPERF_SCHEMA_RECORD(name, type, dtype, ...) add(#name, dtype, "record");
#define AIPERF_SCHEMA_CHUNK_OFFSETS(name, ...) add(#name, "int64", "offsets");
#define AIPERF_SCHEMA_CHUNK(name, type, dtype, ...) add(#name, dtype, "chunk");
#define AIPERF_SCHEMA_TEXT(offsets, text, ...) \
  add(#offsets, "int64", "offsets");           \
  add(#text, "uint8", "blob");
#define AIPERF_SCHEMA_RAW_CHUNK_TEXT(offsets, text, ...) \
  add(#offsets, "int64", "raw_offsets");                 \
  add(#text, "uint8", "raw_blob");
#define AIPERF_SCHEMA_RAW_TEXT(offsets, text, ...) \
  add(#offsets, "int64", "raw_offsets");           \
  add(#text, "uint8", "raw_blob");
  AIPERF_RECORD_COLUMNS(AIPERF_SCHEMA_RECORD, AIPERF_SCHEMA_CHUNK_OFFSETS, AIPERF_SCHEMA_CHUNK, AIPERF_SCHEMA_TEXT,
                        AIPERF_SCHEMA_RAW_CHUNK_TEXT, AIPERF_SCHEMA_RAW_TEXT)
#undef AIPERF_SCHEMA_RECORD
#undef AIPERF_SCHEMA_CHUNK_OFFSETS
#undef AIPERF_SCHEMA_CHUNK
#undef AIPERF_SCHEMA_TEXT
#undef AIPERF_SCHEMA_RAW_CHUNK_TEXT
#undef AIPERF_SCHEMA_RAW_TEXT
  m.attr("RECORD_SCHEMA") = py::tuple(schema);

#define AIPERF_BIND_ENUMERATOR(name, number) .value(#name, Enum::name)
  {
    using Enum = ErrorKind;
    py::enum_<ErrorKind>(m, "ErrorKind", "What became of a request (records' error_kind).")
        AIPERF_ERROR_KINDS(AIPERF_BIND_ENUMERATOR);
  }
  {
    using Enum = Phase;
    py::enum_<Phase>(m, "Phase", "The benchmark phase a request belongs to (records' phase).")
        AIPERF_PHASES(AIPERF_BIND_ENUMERATOR);
  }
#undef AIPERF_BIND_ENUMERATOR
}

}  // namespace aiperf::bindings
