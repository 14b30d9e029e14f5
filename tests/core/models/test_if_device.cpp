// DeepFloyd IF away from the CPU: device names, fp16 (GPU only), and the device-generic path the
// GPU runs. Without a GPU the generic path runs on torch's "meta" device: every op computes shapes
// only, and any tensor left on the CPU makes an op throw ("Expected all tensors to be on the same
// device"), so a forward on meta proves that nothing in it is pinned to the CPU. The [.gpu] tests
// (hidden; `ds_tests "[.gpu]"` on a CUDA build) compare the GPU against the diffusers fixtures.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "core/engine/engine.h"
#include "core/engine/errors.h"
#include "core/io/memory.h"
#include "core/io/safetensors.h"
#include "core/models/if_unet.h"
#include "core/models/t5_encoder.h"
#include "core/models/weight_loading.h"

using ds::models::Precision;

namespace {
const std::string kFixtures = DS_FIXTURES_DIR;

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
    auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
    return ((g - w).abs() / (w.abs() + 1.0)).max().item<double>();
}
}  // namespace

TEST_CASE("device names cpu and cuda and cuda:N and others refused by name",
          "[models][if][device]") {
    CHECK(Precision::parse_device("cpu").is_cpu());
    for (const char* bad : {"gpu", "CPU", "cuda:", "cuda:x", "cuda0", "cuda:-1", "cuda:1x", "meta", ""}) {
        INFO(bad);
        CHECK_THROWS_AS(Precision::parse_device(bad), ds::InvalidRequest);
    }
    CHECK_THROWS_WITH(Precision::parse_device("gpu"), Catch::Contains("cpu, cuda or cuda:N") && Catch::Contains("'gpu'"));
    if (!torch::cuda::is_available()) {
        CHECK_THROWS_WITH(Precision::parse_device("cuda"), Catch::Contains("CUDA LibTorch"));
        CHECK_THROWS_WITH(Precision::parse_device("cuda:0"), Catch::Contains("--device cpu"));
        CHECK(ds::Engine::device_choices() == std::vector<std::string>{"cpu"});
    } else {
        CHECK(Precision::parse_device("cuda").is_cuda());
        CHECK(Precision::parse_device("cuda:0").index() == 0);
        CHECK_THROWS_WITH(Precision::parse_device("cuda:999"), Catch::Contains("cuda:0"));
        CHECK(ds::Engine::device_choices().size() == 1 + torch::cuda::device_count());
    }
    CHECK(ds::Engine::device_choices().front() == "cpu");
}

TEST_CASE("fp16 is a GPU dtype refused on the CPU before loading",
          "[models][if][device]") {
    CHECK(Precision::parse("fp16").compute == torch::kFloat16);
    CHECK(Precision::parse("fp16").name() == "fp16");
    CHECK(Precision::parse("fp16").bytes_per_weight() == 2);
    CHECK(Precision::parse("fp16").cpu_compute() == torch::kFloat32);
    CHECK(Precision::parse("bf16").cpu_compute() == torch::kBFloat16);
    CHECK_THROWS_WITH(Precision::parse("fp16").check_device(), Catch::Contains("GPU only") && Catch::Contains("bf16"));
    CHECK_NOTHROW(Precision::parse("bf16").check_device());
    CHECK_NOTHROW(Precision::parse("fp16").on(torch::kMeta).check_device());
    CHECK_THROWS_WITH(ds::models::IfUNet::load(kFixtures + "/if_stage1_unet_tiny", torch::kFloat16),
                      Catch::Contains("GPU only"));
    CHECK_THROWS_WITH(ds::models::T5Encoder::load(kFixtures + "/t5_encoder_tiny", torch::kFloat16),
                      Catch::Contains("GPU only"));
    ds::EngineOptions o;
    o.threads = 1;
    o.dtype = "fp16";
    CHECK_THROWS_WITH(ds::Engine(o), Catch::Contains("GPU only"));
    o.device = "cuda";
    if (!torch::cuda::is_available()) CHECK_THROWS_WITH(ds::Engine(o), Catch::Contains("CUDA LibTorch"));
    o.dtype = "fp32";
    o.device = "tpu";
    CHECK_THROWS_WITH(ds::Engine(o), Catch::Contains("'tpu'"));
}

TEST_CASE("IF UNets run device-generic on meta: nothing pinned to the CPU",
          "[models][if][device][fixture]") {
    for (const char* name : {"if_stage1_unet_tiny", "if_stage2_unet_tiny"}) {
        const std::string dir = kFixtures + "/" + name;
        const bool stage2 = std::string(name).find("stage2") != std::string::npos;
        auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
        auto x = f.tensor("case1.sample"), t = f.tensor("case1.timestep"), text = f.tensor("case1.encoder_hidden_states");
        auto labels = stage2 ? f.tensor("case1.class_labels") : torch::Tensor();
        for (auto dtype : {torch::kFloat16, torch::kBFloat16, torch::kFloat32}) {
            INFO(name << " " << torch::toString(dtype));
            auto unet = ds::models::IfUNet::load(dir, Precision(dtype).on(torch::kMeta));
            CHECK(unet.precision().device.is_meta());
            CHECK(unet.weight_bytes() == unet.parameter_count() * std::int64_t(torch::elementSize(dtype)));
            ds::models::Hooks hooks;
            // CPU inputs, as the samplers pass them: the UNet moves them to its device.
            auto out = unet.forward(x, t, text, labels, &hooks);
            CHECK(out.is_meta());
            CHECK(out.scalar_type() == torch::kFloat32);
            CHECK(out.sizes() == f.tensor("case1.out").sizes());
            CHECK(hooks.count("mid_block"));
            CHECK(hooks["conv_norm_out"].sizes() == f.tensor("case1.hook.conv_norm_out").sizes());
            // Twice with the same prompts (the CPU reuses its prompt-derived state; meta has no
            // values to compare, so it recomputes).
            CHECK(unet.forward(x, t, text, labels).sizes() == out.sizes());
        }
    }
    // Random weights (the benchmarks') are drawn on the device.
    auto cfg = ds::models::IfUNetConfig::from_json_file(kFixtures + "/if_stage1_unet_tiny/config.json");
    auto meta = ds::models::IfUNet::random(cfg, Precision(torch::kFloat16).on(torch::kMeta), 3);
    CHECK(meta.forward(torch::zeros({2, 3, 16, 16}), torch::full({2}, 10L), torch::zeros({2, 77, cfg.encoder_hid_dim}))
              .sizes() == std::vector<std::int64_t>{2, 6, 16, 16});
    CHECK_THROWS_AS(ds::models::IfUNet::random(cfg, torch::kFloat16, 3), ds::InvalidRequest);
}

TEST_CASE("T5 runs device-generic on meta and fp16 keeps wo in fp32",
          "[models][t5][device][fixture]") {
    const std::string dir = kFixtures + "/t5_encoder_tiny";
    auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
    auto ids = f.tensor("input_ids"), mask = f.tensor("attention_mask");
    auto fp32 = ds::models::T5Encoder::load(dir);
    const auto& c = fp32.config();
    const std::int64_t wo = std::int64_t(c.num_layers) * c.d_model * c.d_ff;
    for (auto dtype : {torch::kFloat16, torch::kBFloat16, torch::kFloat32}) {
        INFO(torch::toString(dtype));
        auto enc = ds::models::T5Encoder::load(dir, Precision(dtype).on(torch::kMeta));
        const std::int64_t per = std::int64_t(torch::elementSize(dtype));
        // fp16 keeps `wo` in fp32 (transformers' _keep_in_fp32_modules): 2 more bytes for each.
        CHECK(enc.weight_bytes() == enc.parameter_count() * per + (dtype == torch::kFloat16 ? 2 * wo : 0));
        std::vector<torch::Tensor> hooks;
        auto out = enc.forward(ids, mask, &hooks);  // CPU ids and mask, as the prompt encoder passes them
        CHECK(out.is_meta());
        CHECK(out.sizes() == f.tensor("last_hidden_state").sizes());
        CHECK(out.scalar_type() == torch::kFloat32);
        CHECK(hooks.size() == std::size_t(c.num_layers) + 1);
        CHECK(enc.position_bias(77).is_meta());
    }
    // Token ids are still checked against the vocabulary (on the CPU copy) before anything runs.
    auto enc = ds::models::T5Encoder::load(dir, Precision(torch::kFloat16).on(torch::kMeta));
    CHECK_THROWS_AS(enc.forward(torch::full({1, 77}, std::int64_t(c.vocab_size)), torch::ones({1, 77}, torch::kLong)),
                    ds::InvalidRequest);
}

TEST_CASE("a GPU load that can never fit is refused before reading with the estimate", "[models][if][device]") {
    const std::string dir = kFixtures + "/if_stage1_unet_tiny";
    // 854,310 weights: 3.4 MB in fp32, 1.7 MB in fp16. The override stands in for the GPU's total
    // memory (the CUDA runtime is asked when there is one); meta stands in for the GPU.
    setenv("DS_DEVICE_MEMORY_GB", "0.0025", 1);
    CHECK_THROWS_WITH(ds::models::IfUNet::load(dir, Precision(torch::kFloat32).on(torch::kMeta)),
                      Catch::Contains("needs 0.0 GB of weights in fp32") && Catch::Contains("meta has") &&
                          Catch::Contains("--dtype fp16"));
    CHECK_NOTHROW(ds::models::IfUNet::load(dir, Precision(torch::kFloat16).on(torch::kMeta)));
    setenv("DS_DEVICE_MEMORY_GB", "0.001", 1);
    CHECK_THROWS_AS(ds::models::IfUNet::load(dir, Precision(torch::kFloat16).on(torch::kMeta)), ds::ModelLoadError);
    setenv("DS_DEVICE_MEMORY_GB", "0.00001", 1);  // 10.7 kB: less than the tiny T5
    CHECK_THROWS_AS(ds::models::T5Encoder::load(kFixtures + "/t5_encoder_tiny", Precision(torch::kFloat16).on(torch::kMeta)),
                    ds::ModelLoadError);
    unsetenv("DS_DEVICE_MEMORY_GB");
    CHECK(ds::io::device_total_memory_bytes(-1) == (torch::cuda::is_available() ? ds::io::device_total_memory_bytes(0) : -1));
    CHECK_NOTHROW(ds::models::IfUNet::load(dir, Precision(torch::kFloat32).on(torch::kMeta)));
}

// ---- On a GPU (a CUDA LibTorch build): `ds_tests "[.gpu]"`. Hidden from the default run. ----

TEST_CASE("GPU: IF UNets and T5 match the fixtures",
          "[.gpu]") {
    // Run on purpose only (hidden, and left out of ctest): without a GPU it has nothing to check.
    if (!torch::cuda::is_available()) FAIL("no CUDA device: built against a CPU-only LibTorch, or no GPU visible");
    // TF32 convolutions (cuDNN's default on Ampere and later) round to 10-bit mantissas: fp32
    // parity with the fixtures needs full fp32.
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
    const auto gpu = Precision::parse_device("cuda");
    for (const char* name : {"if_stage1_unet_tiny", "if_stage2_unet_tiny"}) {
        const std::string dir = kFixtures + "/" + name;
        const bool stage2 = std::string(name).find("stage2") != std::string::npos;
        auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
        for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
            auto unet = ds::models::IfUNet::load(dir, Precision(dtype).on(gpu));
            for (int i = 0; i < 3; ++i) {
                const std::string p = "case" + std::to_string(i) + ".";
                INFO(name << " " << p << " " << torch::toString(dtype));
                auto out = unet.forward(f.tensor(p + "sample"), f.tensor(p + "timestep"),
                                        f.tensor(p + "encoder_hidden_states"),
                                        stage2 ? f.tensor(p + "class_labels") : torch::Tensor());
                CHECK(out.device().is_cpu());
                // fp16 keeps 11 significant bits, bf16 8 (the CPU's bf16 stage II is 6.7e-2 off).
                CHECK(rel_err(out, f.tensor(p + "out")) <
                      (dtype == torch::kFloat32 ? 1e-4 : dtype == torch::kFloat16 ? 5e-2 : 1e-1));
            }
        }
    }
    auto f = ds::io::SafetensorsFile::open(kFixtures + "/t5_encoder_tiny/cases.safetensors");
    for (auto dtype : {torch::kFloat32, torch::kFloat16}) {
        INFO(torch::toString(dtype));
        auto enc = ds::models::T5Encoder::load(kFixtures + "/t5_encoder_tiny", Precision(dtype).on(gpu));
        auto out = enc.forward(f.tensor("input_ids"), f.tensor("attention_mask"));
        CHECK(out.device().is_cpu());
        CHECK((out - f.tensor("last_hidden_state")).abs().max().item<double>() <
              (dtype == torch::kFloat32 ? 1e-5 : 5e-2));
    }
}
