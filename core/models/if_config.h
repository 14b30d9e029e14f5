#pragma once
// The IF UNet's config.json (diffusers UNet2DConditionModel) as the settings IfUNet supports.
// Torch-free: the fuzz target links its parser alone. Every value of the untrusted file is type-
// and range-checked before IfUNet derives weight shapes from it.
#include <string>
#include <vector>

namespace ds::models {

struct IfUNetConfig {
    int in_channels = 3, out_channels = 6;
    std::vector<int> block_out_channels;
    std::vector<int> layers_per_block;   // per down block
    std::vector<bool> down_attention;    // SimpleCrossAttnDownBlock2D (else ResnetDownsampleBlock2D)
    std::vector<bool> up_attention;      // SimpleCrossAttnUpBlock2D (else ResnetUpsampleBlock2D)
    int attention_head_dim = 64;
    int cross_attention_dim = 0;         // X, the projected text width
    int encoder_hid_dim = 4096;          // E, the T5 width
    int pool_heads = 64;                 // addition_embed_type_num_heads
    bool class_embedding = false;        // class_embed_type "timestep" (stage II)
    int time_embed_dim = 0;              // T
    bool time_embedding_gelu = false;    // time_embedding_act_fn "gelu"
    bool skip_time_act = false;          // resnet_skip_time_act
    double resnet_out_scale = 1.0, mid_scale = 1.0;
    int groups = 32;
    double eps = 1e-5;
    bool flip_sin_to_cos = true;
    double freq_shift = 0;
    int sample_size = 64;
    // Throws ModelLoadError naming the file and the unsupported, missing or out-of-range setting.
    static IfUNetConfig from_json_file(const std::string& path);
    // The same for config text already read; `where` names it in errors.
    static IfUNetConfig from_json_text(const std::string& text, const std::string& where);
};

// Whether `path` is a DeepFloyd IF folder in the diffusers layout (a folder with
// unet/config.json): the one test the engine, the samplers and the pipelines use.
bool is_if_folder(const std::string& path);

}  // namespace ds::models
