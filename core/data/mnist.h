#pragma once
// MNIST-style datasets (MNIST, Fashion-MNIST, or any folder of the four IDX files) as float
// tensors in [0, 1], deliberately without mean/std normalisation: the course models expect it.
#include <string>
#include <vector>

#include <torch/types.h>

namespace ds::data {

// Data-set budgets, checked from the IDX headers before decoding: square images of at most
// kMaxDatasetSide px (the course UNet's size grows with the square of the side) and at most
// kMaxDatasetPixels pixels in all (256 MiB as float; MNIST's training split has 47 M).
inline constexpr int kMaxDatasetSide = 64;
inline constexpr long long kMaxDatasetPixels = 64ll << 20;

struct MnistSplit {
    torch::Tensor images;                  // [N, 1, H, W] float32 in [0, 1]
    torch::Tensor labels;                  // [N] int64 in 0..9
    std::vector<std::string> class_names;  // "0".."9", or the Fashion-MNIST names
    std::string source;                    // folder the image file was read from
};

// Maps a dataset name or folder to the folder holding its IDX files:
//   "mnist"         -> <data_dir>/mnist
//   "fashion-mnist" -> <data_dir>/fashion-mnist, else /usr/share/datasets/fashion-mnist
//                      (Debian package dataset-fashion-mnist)
//   anything else   -> taken as a folder.
// A folder qualifies when it (or its raw/ or MNIST/raw/ subfolder) holds a train or t10k images
// file. Throws DataError listing where it looked and how to fetch the data.
std::string resolve_dataset_dir(const std::string& name_or_dir, const std::string& data_dir);

// Loads the train (`train`) or t10k split. `limit` > 0 keeps the first `limit` samples, 0 keeps
// all. Throws DataError for missing or malformed files, IoError when the OS cannot read them.
MnistSplit load_mnist(const std::string& name_or_dir,
                      const std::string& data_dir,
                      bool train,
                      int limit = 0);

}  // namespace ds::data
