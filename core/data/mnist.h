#pragma once
// MNIST-style datasets (MNIST, Fashion-MNIST, or a folder of IDX files) as float tensors in
// [0, 1] without normalisation (the course convention).
#include <string>
#include <vector>

#include <torch/types.h>

namespace ds::data {

struct MnistSplit {
    torch::Tensor images;                 // [N, 1, H, W] float32 in [0, 1]
    torch::Tensor labels;                 // [N] int64
    std::vector<std::string> class_names; // "0".."9" or the Fashion-MNIST names
    std::string source;                   // folder the files came from
};

// "mnist" -> <data_dir>/mnist; "fashion-mnist" -> <data_dir>/fashion-mnist, then
// /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist); anything else is a folder.
// Throws DataError saying where it looked and how to fetch the data.
std::string resolve_dataset_dir(const std::string& name_or_dir, const std::string& data_dir);

// Loads the train or test split; `limit` > 0 keeps the first N images.
MnistSplit load_mnist(const std::string& name_or_dir, const std::string& data_dir, bool train,
                      int limit = 0);

}  // namespace ds::data
