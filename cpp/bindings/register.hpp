// Declarations of the per-part binding registrars called by module.cpp.
#pragma once
#include <pybind11/pybind11.h>

#include <memory>

#include "aiperf/engine/record.hpp"

namespace aiperf::bindings {
void register_errors(pybind11::module_& m);   // EngineError (register_errors.cpp)
void register_json(pybind11::module_& m);     // build_json (register_json.cpp)
void register_stats(pybind11::module_& m);    // compute_stats (register_stats.cpp)
void register_records(pybind11::module_& m);  // RECORD_SCHEMA, ErrorKind, Phase (register_records.cpp)
void register_engine(pybind11::module_& m);   // EngineConfig, Engine, Progress, monotonic_ns (register_engine.cpp)
void register_mock(pybind11::module_& m);     // MockServerConfig, MockServer (register_mock.cpp)
void register_images(pybind11::module_& m);   // encode_png, png_size, sniff_image_type, multipart_encode
// The columns of a record store as a dict of read-only numpy arrays that keep the store alive.
pybind11::dict records_dict(const std::shared_ptr<const RecordStore>& store);
}  // namespace aiperf::bindings
