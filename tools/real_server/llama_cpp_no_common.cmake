# Included by CMake right after llama.cpp's project() call (CMAKE_PROJECT_llama.cpp_INCLUDE), i.e. after
# llama-cpp-python's top-level CMakeLists has forced LLAMA_BUILD_COMMON=ON and before llama.cpp reads it.
# llama-cpp-python loads only libllama, libggml* (and libmtmd, not built here): the "common" utility library
# (argument parser, chat parsers, jinja, json: ~35 heavy C++ files) is compiled and installed but never loaded.
# Turning it off again shortens the build and changes nothing the Python package uses.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
