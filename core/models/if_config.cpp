#include "core/models/if_config.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/io/bounded_json.h"
#include "core/io/text_checks.h"

namespace ds::models {
namespace {

// A diffusers config.json is about 2 KB.
constexpr std::size_t kMaxConfigBytes = 1 << 20;

std::string json_number(double v) { return nlohmann::json(v).dump(); }

}  // namespace

IfUNetConfig IfUNetConfig::from_json_file(const std::string& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw ModelLoadError("cannot read UNet config '" + path + "': " + ec.message());
    if (size > kMaxConfigBytes)
        throw ModelLoadError("'" + path + "' is " + std::to_string(size) + " bytes, not a UNet config.json");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ModelLoadError("cannot read UNet config '" + path + "'");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return from_json_text(text, path);
}

IfUNetConfig IfUNetConfig::from_json_text(const std::string& text, const std::string& path) {
    try {
        nlohmann::json j;
        try {
            j = io::parse_json_bounded(text, path, kMaxConfigBytes);
        } catch (const DataError& e) {
            throw ModelLoadError(std::string(e.what()) + " (not a UNet config)");
        }
        if (!j.is_object()) throw ModelLoadError(path + ": not a UNet2DConditionModel config (not a JSON object)");
        IfUNetConfig c;
        auto need = [&](const char* key, const std::string& want) {
            const auto v = j.value(key, nlohmann::json());
            const std::string got = v.is_string() ? v.get<std::string>() : v.dump();
            if (got != want)
                throw ModelLoadError(path + ": " + key + " = " + io::quoted(got) + " is not supported (DeepFloyd IF uses " + want + ")");
        };
        need("encoder_hid_dim_type", "text_proj");
        need("addition_embed_type", "text");
        need("resnet_time_scale_shift", "scale_shift");
        need("act_fn", "gelu");
        need("mid_block_type", "UNetMidBlock2DSimpleCrossAttn");
        need("cross_attention_norm", "group_norm");
        if (j.value("only_cross_attention", false) != false)
            throw ModelLoadError(path + ": only_cross_attention is not supported");
        // Every size is range-checked as it is read (64-bit), before anything is derived from it.
        auto range_error = [&](const std::string& name, const std::string& v, double lo, double hi) {
            return ModelLoadError(path + ": " + name + " = " + v + " is out of range [" + json_number(lo) + ", " +
                                  json_number(hi) + "]");
        };
        auto ranged_int = [&](const nlohmann::json& v, const std::string& name, std::int64_t lo, std::int64_t hi) {
            if (!v.is_number_integer()) throw ModelLoadError(path + ": " + name + " must be an integer");
            const auto x = v.get<std::int64_t>();
            if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(hi)) throw range_error(name, v.dump(), double(lo), double(hi));
            if (x < lo || x > hi) throw range_error(name, v.dump(), double(lo), double(hi));
            return int(x);
        };
        auto ranged_real = [&](const char* key, double fallback, double lo, double hi) {
            const auto v = j.value(key, nlohmann::json(fallback));
            if (!v.is_number()) throw ModelLoadError(path + ": " + key + " must be a number");
            const double x = v.get<double>();
            if (!(x >= lo && x <= hi)) throw range_error(key, v.dump(), lo, hi);
            return x;
        };
        auto optional_int = [&](const char* key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
            const auto v = j.value(key, nlohmann::json());
            return v.is_null() ? ranged_int(nlohmann::json(fallback), key, lo, hi) : ranged_int(v, key, lo, hi);
        };
        c.in_channels = ranged_int(j.at("in_channels"), "in_channels", 1, 64);
        c.out_channels = ranged_int(j.at("out_channels"), "out_channels", 1, 64);
        const auto& widths = j.at("block_out_channels");
        if (!widths.is_array() || widths.empty() || widths.size() > 8)
            throw ModelLoadError(path + ": block_out_channels must list 1 to 8 widths");
        for (const auto& w : widths) c.block_out_channels.push_back(ranged_int(w, "block_out_channels", 1, 16384));
        const size_t n = c.block_out_channels.size();
        const auto& layers = j.at("layers_per_block");
        if (layers.is_array()) {
            if (layers.size() != n) throw ModelLoadError(path + ": layers_per_block does not match block_out_channels");
            for (const auto& l : layers) c.layers_per_block.push_back(ranged_int(l, "layers_per_block", 1, 16));
        } else {
            c.layers_per_block.assign(n, ranged_int(layers, "layers_per_block", 1, 16));
        }
        for (const auto& t : j.at("down_block_types").get<std::vector<std::string>>()) {
            if (t != "SimpleCrossAttnDownBlock2D" && t != "ResnetDownsampleBlock2D")
                throw ModelLoadError(path + ": down block type " + io::quoted(t) + " is not supported");
            c.down_attention.push_back(t == "SimpleCrossAttnDownBlock2D");
        }
        for (const auto& t : j.at("up_block_types").get<std::vector<std::string>>()) {
            if (t != "SimpleCrossAttnUpBlock2D" && t != "ResnetUpsampleBlock2D")
                throw ModelLoadError(path + ": up block type " + io::quoted(t) + " is not supported");
            c.up_attention.push_back(t == "SimpleCrossAttnUpBlock2D");
        }
        if (c.down_attention.size() != n || c.up_attention.size() != n)
            throw ModelLoadError(path + ": block type lists do not match block_out_channels");
        const auto& head = j.at("attention_head_dim");
        c.attention_head_dim = ranged_int(head.is_array() ? head.at(0) : head, "attention_head_dim", 1, 4096);
        c.cross_attention_dim = ranged_int(j.at("cross_attention_dim"), "cross_attention_dim", 1, 16384);
        c.encoder_hid_dim = ranged_int(j.at("encoder_hid_dim"), "encoder_hid_dim", 1, 16384);
        c.pool_heads = optional_int("addition_embed_type_num_heads", 64, 1, 1024);
        const auto cls = j.value("class_embed_type", nlohmann::json());
        if (!cls.is_null() && cls != "timestep")
            throw ModelLoadError(path + ": class_embed_type " + io::quoted(cls.dump()) + " is not supported");
        c.class_embedding = !cls.is_null();
        c.time_embed_dim = optional_int("time_embedding_dim", 4 * std::int64_t(c.block_out_channels[0]), 1, 65536);
        const auto tact = j.value("time_embedding_act_fn", nlohmann::json());
        if (!tact.is_null() && tact != "gelu") throw ModelLoadError(path + ": time_embedding_act_fn " + io::quoted(tact.dump()));
        c.time_embedding_gelu = !tact.is_null();
        c.skip_time_act = j.value("resnet_skip_time_act", false);
        c.resnet_out_scale = ranged_real("resnet_out_scale_factor", 1.0, 1e-6, 1e6);
        c.mid_scale = ranged_real("mid_block_scale_factor", 1.0, 1e-6, 1e6);
        c.groups = optional_int("norm_num_groups", 32, 1, 1024);
        c.eps = ranged_real("norm_eps", 1e-5, 1e-12, 1);
        c.flip_sin_to_cos = j.value("flip_sin_to_cos", true);
        c.freq_shift = ranged_real("freq_shift", 0.0, -1e6, 1e6);
        c.sample_size = optional_int("sample_size", 64, 1, 4096);
        if (c.encoder_hid_dim % c.pool_heads)
            throw ModelLoadError(path + ": encoder_hid_dim is not a multiple of addition_embed_type_num_heads");
        for (size_t i = 0; i < n; ++i) {
            const int ch = c.block_out_channels[i];
            const bool attn = c.down_attention[i] || c.up_attention[n - 1 - i] || i + 1 == n;  // mid block: last
            if (ch % c.groups || (attn && ch % c.attention_head_dim))
                throw ModelLoadError(path + ": block width " + std::to_string(ch) +
                                     " is not a multiple of the group count" + (attn ? " and the head size" : ""));
        }
        return c;
    } catch (const nlohmann::json::exception& e) {
        throw ModelLoadError(path + ": not a UNet2DConditionModel config (" + e.what() + ")");
    } catch (const std::runtime_error& e) {
        if (dynamic_cast<const ModelLoadError*>(&e)) throw;
        throw ModelLoadError(path + ": " + e.what());
    }
}

bool is_if_folder(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_directory(path, ec) &&
           std::filesystem::exists(std::filesystem::path(path) / "unet" / "config.json", ec);
}

}  // namespace ds::models
