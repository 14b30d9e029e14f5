// The IF UNet against diffusers 0.24 on the tiny stage I and stage II configs (every hook).
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/models/dnnl_ops.h"
#include "core/models/if_unet.h"
#include "core/models/t5_encoder.h"
#include "core/models/weight_loading.h"

namespace fs = std::filesystem;

namespace {
double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
    auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
    return ((g - w).abs() / (w.abs() + 1.0)).max().item<double>();  // atol/rtol mix, 1 = atol scale
}

void check_stage(const std::string& name, bool stage2) {
    const std::string dir = std::string(DS_FIXTURES_DIR) + "/" + name;
    auto unet = ds::models::IfUNet::load(dir);
    auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
    for (int i = 0; i < 3; ++i) {
        const std::string p = "case" + std::to_string(i) + ".";
        INFO(name << " " << p);
        ds::models::Hooks hooks;
        auto out = unet.forward(f.tensor(p + "sample"), f.tensor(p + "timestep"), f.tensor(p + "encoder_hidden_states"),
                                stage2 ? f.tensor(p + "class_labels") : torch::Tensor(), &hooks);
        CHECK(rel_err(out, f.tensor(p + "out")) < 1e-4);
        int compared = 0;
        for (const auto& info : f.tensors()) {
            if (info.name.rfind(p + "hook.", 0) != 0) continue;
            const std::string h = info.name.substr(p.size() + 5);
            INFO(h);
            REQUIRE(hooks.count(h));
            CHECK(hooks[h].sizes() == f.tensor(info.name).sizes());
            CHECK(rel_err(hooks[h], f.tensor(info.name)) < 1e-4);
            ++compared;
        }
        CHECK(compared >= 15);
    }
}
}  // namespace

TEST_CASE("IF stage I UNet matches diffusers, every hook (1e-4)", "[models][if][fixture]") {
    check_stage("if_stage1_unet_tiny", false);
}

TEST_CASE("IF stage II UNet (noise-level class embedding, skip_time_act, scale factors) matches diffusers",
          "[models][if][fixture]") {
    check_stage("if_stage2_unet_tiny", true);
}

TEST_CASE("IF UNet reuses what it derives from the prompts only while the prompts are equal", "[models][if][fixture]") {
    const std::string dir = std::string(DS_FIXTURES_DIR) + "/if_stage1_unet_tiny";
    auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
    auto in = [&](int i, const char* n) { return f.tensor("case" + std::to_string(i) + "." + n); };
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
        INFO((dtype == torch::kFloat32 ? "fp32" : "bf16"));
        auto unet = ds::models::IfUNet::load(dir, dtype);
        auto text = in(0, "encoder_hidden_states").clone();
        auto first = unet.forward(in(0, "sample"), in(0, "timestep"), text);
        auto again = unet.forward(in(0, "sample"), in(0, "timestep"), text.clone());  // equal states: reused
        CHECK(torch::equal(first, again));
        // The caller's tensor changed in place: the new prompts are seen (compared by content).
        text.copy_(in(1, "encoder_hidden_states"));
        auto second = unet.forward(in(1, "sample"), in(1, "timestep"), text);
        auto fresh = ds::models::IfUNet::load(dir, dtype).forward(in(1, "sample"), in(1, "timestep"), text);
        CHECK(torch::equal(second, fresh));
        if (dtype == torch::kFloat32) CHECK(rel_err(second, in(1, "out")) < 1e-4);
        // And back to the first prompts.
        CHECK(torch::equal(unet.forward(in(0, "sample"), in(0, "timestep"), in(0, "encoder_hidden_states")), first));
    }
}

TEST_CASE("IF UNet loading and input errors", "[models][if]") {
    const std::string dir = std::string(DS_FIXTURES_DIR) + "/if_stage1_unet_tiny";
    auto unet = ds::models::IfUNet::load(dir);
    CHECK(unet.parameter_count() == 854310);
    CHECK(ds::models::if_unet_weight_shapes(unet.config()).size() == 199);
    CHECK_THROWS_AS(unet.forward(torch::zeros({1, 4, 16, 16}), torch::tensor({1L}), torch::zeros({1, 77, 32})),
                    ds::InvalidRequest);
    CHECK_THROWS_WITH(unet.forward(torch::zeros({1, 3, 15, 16}), torch::tensor({1L}), torch::zeros({1, 77, 32})),
                      Catch::Contains("multiples of 2"));
    CHECK_THROWS_AS(unet.forward(torch::zeros({1, 3, 16, 16}), torch::tensor({1L}), torch::zeros({1, 77, 31})),
                    ds::InvalidRequest);
    auto stage2 = ds::models::IfUNet::load(std::string(DS_FIXTURES_DIR) + "/if_stage2_unet_tiny");
    CHECK_THROWS_WITH(stage2.forward(torch::zeros({1, 6, 16, 16}), torch::tensor({1L}), torch::zeros({1, 77, 32})),
                      Catch::Contains("class labels"));
    // A weight missing and one mis-shaped: both named.
    const auto bad = fs::temp_directory_path() / "ds_if_bad";
    fs::remove_all(bad);
    fs::create_directories(bad);
    fs::copy_file(dir + "/config.json", bad / "config.json");
    auto f = ds::io::SafetensorsFile::open(dir + "/diffusion_pytorch_model.safetensors");
    std::vector<std::pair<std::string, torch::Tensor>> ts;
    for (const auto& info : f.tensors()) {
        if (info.name == "mid_block.attentions.0.to_q.weight") continue;
        ts.push_back({info.name, info.name == "conv_in.bias" ? torch::zeros({31}) : f.tensor(info.name)});
    }
    ts.push_back({"extra.weight", torch::zeros({1})});
    ds::io::write_safetensors((bad / "diffusion_pytorch_model.safetensors").string(), ts);
    try {
        ds::models::IfUNet::load(bad.string());
        FAIL("expected an error");
    } catch (const ds::ModelLoadError& e) {
        const std::string m = e.what();
        CHECK(m.find("missing weight mid_block.attentions.0.to_q.weight") != std::string::npos);
        CHECK(m.find("conv_in.bias has shape [31], expected [32]") != std::string::npos);
        CHECK(m.find("unexpected weight extra.weight") != std::string::npos);
    }
    CHECK_THROWS_WITH(ds::models::IfUNet::load("/nonexistent"), Catch::Contains("config.json"));
}

TEST_CASE("real IF configs enumerate to the published parameter counts", "[models][if]") {
    const auto count = ds::models::count_parameters;
    const std::string cfg = std::string(DS_SOURCE_DIR) + "/assets/configs/";
    auto xl = ds::models::if_unet_weight_shapes(ds::models::IfUNetConfig::from_json_file(cfg + "if-i-xl-unet.json"));
    CHECK(xl.size() == 775);
    CHECK(count(xl) == 4304695110LL);
    auto iil = ds::models::if_unet_weight_shapes(ds::models::IfUNetConfig::from_json_file(cfg + "if-ii-l-unet.json"));
    CHECK(iil.size() == 939);
    CHECK(count(iil) == 1243277190LL);
    // T5-v1.1-XXL: 219 stored tensors, 4,762,310,656 parameters (a small random instance checks
    // the same enumeration without allocating 19 GB).
    auto t5 = ds::models::T5Config::from_json_file(cfg + "t5-v1_1-xxl.json");
    const std::int64_t d = t5.d_model, ff = t5.d_ff, inner = std::int64_t(t5.d_kv) * t5.num_heads;
    const std::int64_t per_block = 4 * d * inner + 2 * d + 3 * d * ff;
    CHECK(std::int64_t(t5.vocab_size) * d + t5.num_buckets * t5.num_heads + d + t5.num_layers * per_block == 4762310656LL);
    auto tiny = t5;
    tiny.d_model = 8, tiny.d_kv = 2, tiny.num_heads = 4, tiny.d_ff = 16, tiny.num_layers = 2, tiny.vocab_size = 50;
    auto enc = ds::models::T5Encoder::random(tiny, torch::kFloat32);
    CHECK(enc.parameter_count() == 50 * 8 + 32 * 4 + 8 + 2 * (4 * 8 * 8 + 2 * 8 + 3 * 8 * 16));
}

TEST_CASE("IF convolution resolutions follow the levels (bf16 slice choice)", "[models][if]") {
    const std::string cfg = std::string(DS_SOURCE_DIR) + "/assets/configs/";
    const auto xl = ds::models::IfUNetConfig::from_json_file(cfg + "if-i-xl-unet.json");
    using ds::models::if_unet_conv_resolution;
    CHECK(if_unet_conv_resolution("conv_in", xl) == 64);
    CHECK(if_unet_conv_resolution("conv_out", xl) == 64);
    CHECK(if_unet_conv_resolution("down_blocks.0.resnets.2.conv1", xl) == 64);
    CHECK(if_unet_conv_resolution("down_blocks.0.downsamplers.0.conv1", xl) == 32);
    CHECK(if_unet_conv_resolution("down_blocks.3.resnets.0.conv2", xl) == 8);
    CHECK(if_unet_conv_resolution("mid_block.resnets.1.conv1", xl) == 8);
    CHECK(if_unet_conv_resolution("up_blocks.0.resnets.0.conv_shortcut", xl) == 8);
    CHECK(if_unet_conv_resolution("up_blocks.0.upsamplers.0.conv2", xl) == 16);
    CHECK(if_unet_conv_resolution("up_blocks.3.resnets.3.conv2", xl) == 64);
    // Every resnet convolution outside the upsamplers has its level's width at that resolution.
    int checked = 0;
    for (const auto& [name, shape] : ds::models::if_unet_weight_shapes(xl)) {
        if (shape.size() != 4 || name.find("resnets.") == std::string::npos) continue;
        const auto prefix = name.substr(0, name.size() - std::string(".weight").size());
        const int res = if_unet_conv_resolution(prefix, xl);
        int level = 0;
        while ((xl.sample_size >> level) > res) ++level;
        INFO(prefix);
        CHECK(shape[0] == xl.block_out_channels.at(level));
        ++checked;
    }
    CHECK(checked > 50);
    const auto iil = ds::models::IfUNetConfig::from_json_file(cfg + "if-ii-l-unet.json");
    CHECK(if_unet_conv_resolution("down_blocks.4.resnets.0.conv1", iil) == 16);
    CHECK(if_unet_conv_resolution("up_blocks.4.resnets.0.conv1", iil) == 256);
}

TEST_CASE("loading refuses a model that does not fit in memory, with the estimate", "[models][if]") {
    setenv("DS_MEMORY_LIMIT_GB", "0.0001", 1);  // ~100 KB "available"
    const std::string dir = std::string(DS_FIXTURES_DIR) + "/if_stage1_unet_tiny";
    CHECK_THROWS_WITH(ds::models::IfUNet::load(dir), Catch::Contains("needs 0.0 GB") && Catch::Contains("in fp32") &&
                                                            Catch::Contains("fp32-w16"));
    CHECK_THROWS_AS(ds::models::T5Encoder::load(std::string(DS_FIXTURES_DIR) + "/t5_encoder_tiny"), ds::ModelLoadError);
    unsetenv("DS_MEMORY_LIMIT_GB");
    CHECK_NOTHROW(ds::models::IfUNet::load(dir));
}

namespace {
// A copy of a fixture folder whose weights are stored as float16 under `weights_name`.
fs::path fp16_copy(const std::string& fixture, const std::string& weights_in, const std::string& weights_name,
                   const std::string& tag) {
    const fs::path src = fs::path(DS_FIXTURES_DIR) / fixture;
    const fs::path dir = fs::temp_directory_path() / ("ds_w16_" + tag);
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(src / "config.json", dir / "config.json");
    auto f = ds::io::SafetensorsFile::open((src / weights_in).string());
    std::vector<std::pair<std::string, torch::Tensor>> half;
    for (const auto& info : f.tensors()) half.emplace_back(info.name, f.tensor(info.name, torch::kFloat16));
    ds::io::write_safetensors((dir / weights_name).string(), half);
    return dir;
}
}  // namespace

TEST_CASE("dtype names fp32 bf16 fp16 fp32-w16 and nothing else", "[models][if]") {
    using ds::models::Precision;
    for (const char* n : {"fp32", "bf16", "fp16", "fp32-w16"}) CHECK(Precision::parse(n).name() == n);
    CHECK(Precision::parse("fp32-w16").weights16);
    CHECK(Precision::parse("fp32-w16").compute == torch::kFloat32);
    CHECK(Precision::parse("fp32-w16").bytes_per_weight() == 2);
    CHECK(Precision::parse("fp32").bytes_per_weight() == 4);
    CHECK(Precision::parse("fp32-w16").storage_for(torch::kFloat16) == torch::kFloat16);
    CHECK(Precision::parse("fp32-w16").storage_for(torch::kFloat32) == torch::kBFloat16);
    CHECK(Precision::parse("fp32").storage_for(torch::kFloat16) == torch::kFloat32);
    CHECK_THROWS_WITH(Precision::parse("half"), Catch::Contains("fp32-w16"));
    CHECK_THROWS_AS(Precision::parse("FP16"), ds::InvalidRequest);
    CHECK_THROWS_AS(Precision::parse(""), ds::InvalidRequest);
}

TEST_CASE("fp32-w16 keeps fp16 weights in 16 bits and computes exactly what fp32 computes from them",
          "[models][if]") {
    const auto dir = fp16_copy("if_stage1_unet_tiny", "diffusion_pytorch_model.safetensors",
                               "diffusion_pytorch_model.fp16.safetensors", "unet");
    auto full = ds::models::IfUNet::load(dir.string());  // fp16 file widened to fp32 at load
    auto w16 = ds::models::IfUNet::load(dir.string(), ds::models::Precision::fp32_w16());
    CHECK(full.weight_bytes() == 4 * full.parameter_count());
    CHECK(w16.weight_bytes() == 2 * w16.parameter_count());
    auto f = ds::io::SafetensorsFile::open(std::string(DS_FIXTURES_DIR) + "/if_stage1_unet_tiny/cases.safetensors");
    auto x = f.tensor("case0.sample"), t = f.tensor("case0.timestep"), text = f.tensor("case0.encoder_hidden_states");
    auto a = full.forward(x, t, text), b = w16.forward(x, t, text);
    CHECK(b.scalar_type() == torch::kFloat32);
    CHECK(torch::equal(a, b));  // widening fp16 is exact, the arithmetic is the same
    // ... and the fp16 rounding of the weights moves the output only a little from diffusers' fp32.
    CHECK(rel_err(b, f.tensor("case0.out")) < 2e-2);
    fs::remove_all(dir);
}

TEST_CASE("fp32-w16 rounds fp32 files to bf16 and halves the memory estimate", "[models][if]") {
    const std::string dir = std::string(DS_FIXTURES_DIR) + "/if_stage1_unet_tiny";
    auto w16 = ds::models::IfUNet::load(dir, ds::models::Precision::fp32_w16());
    CHECK(w16.weight_bytes() == 2 * w16.parameter_count());
    auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
    auto out = w16.forward(f.tensor("case1.sample"), f.tensor("case1.timestep"), f.tensor("case1.encoder_hidden_states"));
    const double err = rel_err(out, f.tensor("case1.out"));
    CHECK(err > 0);      // the weights really were rounded
    CHECK(err < 5e-2);   // bf16 keeps 8 significant bits
    // 854,310 weights: 3.4 MB in fp32, 1.7 MB in 16 bits; 2.5 MB "available" fits only the latter.
    setenv("DS_MEMORY_LIMIT_GB", "0.00233", 1);
    CHECK_THROWS_WITH(ds::models::IfUNet::load(dir), Catch::Contains("in fp32") && Catch::Contains("fp32-w16"));
    CHECK_NOTHROW(ds::models::IfUNet::load(dir, ds::models::Precision::fp32_w16()));
    unsetenv("DS_MEMORY_LIMIT_GB");
}

TEST_CASE("bf16 IF UNets (stage I and II) stay close to diffusers' fp32 outputs",
          "[models][if]") {
    for (const char* name : {"if_stage1_unet_tiny", "if_stage2_unet_tiny"}) {
        INFO(name);
        const std::string dir = std::string(DS_FIXTURES_DIR) + "/" + name;
        auto unet = ds::models::IfUNet::load(dir, torch::kBFloat16);
        auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
        const bool stage2 = std::string(name).find("stage2") != std::string::npos;
        ds::models::Hooks hooks;
        auto out = unet.forward(f.tensor("case0.sample"), f.tensor("case0.timestep"),
                                f.tensor("case0.encoder_hidden_states"),
                                stage2 ? f.tensor("case0.class_labels") : torch::Tensor(), &hooks);
        CHECK(out.scalar_type() == torch::kFloat32);
        const double err = rel_err(out, f.tensor("case0.out"));
        CHECK(err > 0);      // really computed in bf16
        CHECK(err < 5e-2);   // bf16 keeps 8 significant bits
        // The last group norm's output (unit scale, after every block's bf16 rounding) still
        // follows diffusers; a wrong normalisation would be off by O(1).
        REQUIRE(hooks.count("conv_norm_out"));
        const double norm_err = rel_err(hooks["conv_norm_out"], f.tensor("case0.hook.conv_norm_out"));
        CHECK(norm_err > 0);
        CHECK(norm_err < 0.25);
        // Without hooks the last group norm and GELU run fused (fused_norm.h): same result.
        auto plain = unet.forward(f.tensor("case0.sample"), f.tensor("case0.timestep"),
                                  f.tensor("case0.encoder_hidden_states"),
                                  stage2 ? f.tensor("case0.class_labels") : torch::Tensor());
        CHECK(plain.is_contiguous());
        CHECK(rel_err(plain, f.tensor("case0.out")) < 5e-2);
        CHECK(rel_err(plain, out) < 2e-2);
    }
}

TEST_CASE("bf16 attention by chunks of heads gives the unchunked result up to rounding", "[models][if]") {
    if (!ds::models::dnnl_ops::available()) {
        WARN("built without oneDNN: the bf16 attention takes torch's path, which is not chunked");
        return;
    }
    for (const char* name : {"if_stage1_unet_tiny", "if_stage2_unet_tiny"}) {
        INFO(name);
        const std::string dir = std::string(DS_FIXTURES_DIR) + "/" + name;
        const bool stage2 = std::string(name).find("stage2") != std::string::npos;
        auto unet = ds::models::IfUNet::load(dir, torch::kBFloat16);
        auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
        auto run = [&] {
            return unet.forward(f.tensor("case2.sample"), f.tensor("case2.timestep"),
                                f.tensor("case2.encoder_hidden_states"),
                                stage2 ? f.tensor("case2.class_labels") : torch::Tensor());
        };
        auto whole = run();  // the tiny UNets' scores fit in one chunk
        unet.set_attention_chunk_bytes(1);  // one head of one image per chunk
        auto chunked = run();
        unet.set_attention_chunk_bytes(0);
        // Not bit for bit: oneDNN picks other kernels for one head than for all, which sum the
        // fp32 scores in another order, and bf16 probabilities then round differently (1.3-1.8e-2
        // here after the whole UNet, against 3-6e-2 from diffusers' fp32). A chunk reading the
        // wrong heads or image is off by O(1).
        CHECK(rel_err(chunked, whole) < 4e-2);
        CHECK(rel_err(chunked, f.tensor("case2.out")) < 1e-1);  // and still the model's output
    }
}

TEST_CASE("fp32-w16 T5 keeps fp16 weights in 16 bits with the hidden states of fp32 from the same file",
          "[models][t5]") {
    const auto dir = fp16_copy("t5_encoder_tiny", "model.safetensors", "model.fp16.safetensors", "t5");
    auto full = ds::models::T5Encoder::load(dir.string());
    auto w16 = ds::models::T5Encoder::load(dir.string(), ds::models::Precision::fp32_w16());
    CHECK(w16.weight_bytes() * 2 == full.weight_bytes());
    auto f = ds::io::SafetensorsFile::open(std::string(DS_FIXTURES_DIR) + "/t5_encoder_tiny/cases.safetensors");
    auto ids = f.tensor("input_ids"), mask = f.tensor("attention_mask");
    auto a = full.forward(ids, mask), b = w16.forward(ids, mask);
    CHECK(torch::equal(a, b));
    CHECK((b - f.tensor("last_hidden_state")).abs().max().item<double>() < 5e-2);
    fs::remove_all(dir);
}

TEST_CASE("widened 16-bit weights hold the exact widened values and fp32 weights pass through", "[models][if]") {
    const auto p = ds::models::Precision::fp32_w16();
    auto stored = torch::randn({1024, 1024}).to(torch::kBFloat16);
    auto a = p.use(stored);
    CHECK(a.scalar_type() == torch::kFloat32);
    CHECK(torch::equal(a, stored.to(torch::kFloat32)));
    auto half = torch::randn({300, 7}).to(torch::kFloat16);
    CHECK(torch::equal(p.use(half), half.to(torch::kFloat32)));
    auto f32 = torch::ones({2048, 1024});
    CHECK(p.use(f32).data_ptr() == f32.data_ptr());  // no copy when already in the compute dtype
}
