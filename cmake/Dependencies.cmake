# One place for find_package. Torch comes from Debian (libtorch-dev) or a PyTorch wheel
# (pass -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')).
find_package(Torch REQUIRED)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(nlohmann_json 3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
if(DS_BUILD_GUI)
    find_package(Qt6 REQUIRED COMPONENTS Widgets Charts Test)
endif()
if(DS_BUILD_TESTS)
    find_package(Catch2 2 REQUIRED)
endif()
