#pragma once
// What a Part B checkpoint is: the model kind, its UNet shape and the diffusion settings it was
// trained with. Stored as JSON in the safetensors metadata key "ds.spec".
#include <string>
#include <vector>

#include "core/engine/requests.h"
#include "core/models/mnist_unet.h"

namespace ds::models {

struct ModelSpec {
    ModelKind kind = ModelKind::ClassDdpm;
    int hidden = 64;
    int in_channels = 1;
    int image_size = 28;
    int num_classes = 10;             // class models and the classifier; 0 otherwise
    int timesteps = 300;              // DDPM T
    double beta1 = 1e-4, beta2 = 0.02;  // DDPM linear beta schedule endpoints
    double sigma = 0.5;               // denoiser training noise level
    bool pure_noise = false;          // denoiser trained on z = eps
    std::string dataset = "mnist";
    std::vector<std::string> class_names;

    bool is_class_conditioned() const;
    bool is_ddpm() const;
    bool is_flow() const;
    UNetConfig unet_config() const;
    std::string to_json() const;
    // Throws ModelLoadError naming `where` for malformed or unknown values.
    static ModelSpec from_json(const std::string& json, const std::string& where);
    // Course defaults for a kind (course_spec §3.3, §3.5, §3.6).
    static ModelSpec defaults(ModelKind kind);
};

inline constexpr const char* kSpecKey = "ds.spec";
// Largest image side of the Part B models (and of the IDX datasets they train on): the course
// UNet's 7x7 bottleneck scales with the square of the side, so a 2048 px spec would need GBs.
inline constexpr int kMaxModelImageSide = 64;
// Largest UNet width D a model file may declare.
inline constexpr int kMaxModelHidden = 4096;

}  // namespace ds::models
