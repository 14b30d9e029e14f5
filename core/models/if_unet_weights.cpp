// The weights of DeepFloyd IF's UNet (deepfloyd_if_spec.md): every tensor name and shape a
// config implies (diffusers' key names), the resolution each convolution runs at, and the
// initialisation of random weights for measurements at real scale without the real ones.
#include <algorithm>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/models/if_unet.h"
#include "core/models/weight_loading.h"

namespace ds::models {

namespace {

void add_resnet(WeightShapes& s, const std::string& p, std::int64_t cin, std::int64_t cout, std::int64_t T) {
    s[p + ".norm1.weight"] = {cin};
    s[p + ".norm1.bias"] = {cin};
    s[p + ".conv1.weight"] = {cout, cin, 3, 3};
    s[p + ".conv1.bias"] = {cout};
    s[p + ".time_emb_proj.weight"] = {2 * cout, T};
    s[p + ".time_emb_proj.bias"] = {2 * cout};
    s[p + ".norm2.weight"] = {cout};
    s[p + ".norm2.bias"] = {cout};
    s[p + ".conv2.weight"] = {cout, cout, 3, 3};
    s[p + ".conv2.bias"] = {cout};
    if (cin != cout) {
        s[p + ".conv_shortcut.weight"] = {cout, cin, 1, 1};
        s[p + ".conv_shortcut.bias"] = {cout};
    }
}

void add_attention(WeightShapes& s, const std::string& p, std::int64_t c, std::int64_t x) {
    s[p + ".group_norm.weight"] = {c};
    s[p + ".group_norm.bias"] = {c};
    s[p + ".norm_cross.weight"] = {x};
    s[p + ".norm_cross.bias"] = {x};
    for (const char* n : {"to_q", "to_k", "to_v", "to_out.0"}) {
        s[p + "." + n + ".weight"] = {c, c};
        s[p + "." + n + ".bias"] = {c};
    }
    for (const char* n : {"add_k_proj", "add_v_proj"}) {
        s[p + "." + n + ".weight"] = {c, x};
        s[p + "." + n + ".bias"] = {c};
    }
}

void add_mlp(WeightShapes& s, const std::string& p, std::int64_t in, std::int64_t T) {
    s[p + ".linear_1.weight"] = {T, in};
    s[p + ".linear_1.bias"] = {T};
    s[p + ".linear_2.weight"] = {T, T};
    s[p + ".linear_2.bias"] = {T};
}

}  // namespace

int if_unet_conv_resolution(const std::string& prefix, const IfUNetConfig& c) {
    const int levels = int(c.block_out_channels.size());
    auto index_after = [&](const std::string& head) { return std::stoi(prefix.substr(head.size())); };
    int level = 0;
    if (prefix.rfind("down_blocks.", 0) == 0) {
        level = index_after("down_blocks.") + (prefix.find(".downsamplers.") != std::string::npos ? 1 : 0);
    } else if (prefix.rfind("up_blocks.", 0) == 0) {
        level = levels - 1 - index_after("up_blocks.") - (prefix.find(".upsamplers.") != std::string::npos ? 1 : 0);
    } else if (prefix.rfind("mid_block", 0) == 0) {
        level = levels - 1;
    }
    return c.sample_size >> std::max(level, 0);
}

std::map<std::string, std::vector<std::int64_t>> if_unet_weight_shapes(const IfUNetConfig& c) {
    WeightShapes s;
    const std::int64_t C0 = c.block_out_channels[0], T = c.time_embed_dim, X = c.cross_attention_dim,
                       E = c.encoder_hid_dim;
    s["conv_in.weight"] = {C0, c.in_channels, 3, 3};
    s["conv_in.bias"] = {C0};
    add_mlp(s, "time_embedding", C0, T);
    if (c.class_embedding) add_mlp(s, "class_embedding", C0, T);
    s["encoder_hid_proj.weight"] = {X, E};
    s["encoder_hid_proj.bias"] = {X};
    s["add_embedding.norm1.weight"] = {E};
    s["add_embedding.norm1.bias"] = {E};
    s["add_embedding.pool.positional_embedding"] = {1, E};
    for (const char* n : {"q_proj", "k_proj", "v_proj"}) {
        s[std::string("add_embedding.pool.") + n + ".weight"] = {E, E};
        s[std::string("add_embedding.pool.") + n + ".bias"] = {E};
    }
    s["add_embedding.proj.weight"] = {T, E};
    s["add_embedding.proj.bias"] = {T};
    s["add_embedding.norm2.weight"] = {T};
    s["add_embedding.norm2.bias"] = {T};
    const int n = int(c.block_out_channels.size());
    std::int64_t prev = C0;
    for (int i = 0; i < n; ++i) {
        const std::int64_t out = c.block_out_channels[i];
        const std::string p = "down_blocks." + std::to_string(i);
        for (int j = 0; j < c.layers_per_block[i]; ++j) {
            add_resnet(s, p + ".resnets." + std::to_string(j), j == 0 ? prev : out, out, T);
            if (c.down_attention[i]) add_attention(s, p + ".attentions." + std::to_string(j), out, X);
        }
        if (i < n - 1) add_resnet(s, p + ".downsamplers.0", out, out, T);
        prev = out;
    }
    const std::int64_t last = c.block_out_channels.back();
    add_resnet(s, "mid_block.resnets.0", last, last, T);
    add_attention(s, "mid_block.attentions.0", last, X);
    add_resnet(s, "mid_block.resnets.1", last, last, T);
    std::vector<int> rb(c.block_out_channels.rbegin(), c.block_out_channels.rend());
    std::vector<int> rl(c.layers_per_block.rbegin(), c.layers_per_block.rend());
    prev = rb[0];
    for (int i = 0; i < n; ++i) {
        const std::int64_t out = rb[i], skip = rb[std::min(i + 1, n - 1)];
        const int layers = rl[i] + 1;
        const std::string p = "up_blocks." + std::to_string(i);
        for (int j = 0; j < layers; ++j) {
            const std::int64_t cin = (j == 0 ? prev : out) + (j == layers - 1 ? skip : out);
            add_resnet(s, p + ".resnets." + std::to_string(j), cin, out, T);
            if (c.up_attention[i]) add_attention(s, p + ".attentions." + std::to_string(j), out, X);
        }
        if (i < n - 1) add_resnet(s, p + ".upsamplers.0", out, out, T);
        prev = out;
    }
    s["conv_norm_out.weight"] = {C0};
    s["conv_norm_out.bias"] = {C0};
    s["conv_out.weight"] = {c.out_channels, C0, 3, 3};
    s["conv_out.bias"] = {c.out_channels};
    return s;
}

torch::Tensor if_unet_random_weight(const std::string& name, const std::vector<std::int64_t>& shape, at::Generator& gen,
                                    torch::Device device) {
    const bool norm = name.find("norm") != std::string::npos;
    const bool bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (norm) return (bias ? torch::zeros(shape) : torch::ones(shape)).to(device);
    return random_normal(shape, 0.02, gen, device);
}

}  // namespace ds::models
