# Build options and the two INTERFACE targets every target links: ds_options, ds_warnings.
option(DS_BUILD_GUI "Build the Qt GUI (ds_ui, diffusion-studio)" ON)
option(DS_BUILD_TESTS "Build the Catch2 test suite" ON)
option(DS_BUILD_FUZZERS "Build libFuzzer targets (needs clang)" OFF)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
    set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

add_library(ds_options INTERFACE)
target_compile_features(ds_options INTERFACE cxx_std_17)
# Qt's `slots`/`signals` macros collide with names in torch headers.
target_compile_definitions(ds_options INTERFACE QT_NO_KEYWORDS)
target_include_directories(ds_options INTERFACE "${PROJECT_SOURCE_DIR}")

add_library(ds_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(ds_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)
endif()
