// group_norm_act (core/models/fused_norm.h): the fused bf16 channels-last group norm + scale-shift
// + GELU of the IF UNet, against the same chain of torch ops in fp32.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/models/fused_norm.h"
#include "core/models/if_unet.h"

namespace F = torch::nn::functional;
using ds::models::group_norm_act;

namespace {

// The chain the kernel replaces, in fp32 on the same (bf16-rounded) input values.
torch::Tensor reference(const torch::Tensor& x_bf16, std::int64_t groups, const torch::Tensor& gamma,
                        const torch::Tensor& beta, const torch::Tensor& scale, const torch::Tensor& shift,
                        bool gelu) {
    auto h = F::group_norm(x_bf16.to(torch::kFloat32).contiguous(),
                           F::GroupNormFuncOptions(groups).weight(gamma).bias(beta).eps(1e-5));
    if (scale.defined()) h = h * (1 + scale.unsqueeze(-1).unsqueeze(-1)) + shift.unsqueeze(-1).unsqueeze(-1);
    return gelu ? torch::gelu(h) : h;
}

struct KernelChoice {
    explicit KernelChoice(bool scalar) { ds::models::set_group_norm_act_scalar(scalar); }
    ~KernelChoice() { ds::models::set_group_norm_act_scalar(false); }
};

}  // namespace

TEST_CASE("fused bf16 group norm + scale-shift + GELU matches the fp32 chain", "[models][if]") {
    struct Shape {
        std::int64_t B, C, H, W, groups;
    };
    // C = 64: whole 16-channel vectors; 40 and 24: a tail of 8 channels; 1x1 images.
    const std::vector<Shape> shapes = {{2, 64, 5, 7, 32}, {3, 40, 4, 3, 8}, {1, 24, 9, 9, 4}, {2, 32, 1, 1, 8}};
    for (bool scalar : {false, true}) {
        KernelChoice choice(scalar);
        INFO("kernel " << ds::models::group_norm_act_kernel());
        for (const auto& s : shapes)
            for (bool with_ss : {false, true})
                for (bool gelu : {false, true}) {
                    INFO("B " << s.B << " C " << s.C << " " << s.H << "x" << s.W << " groups " << s.groups
                              << " scale-shift " << with_ss << " gelu " << gelu);
                    torch::manual_seed(s.C + 7 * with_ss + 3 * gelu);
                    // A per-channel offset as large as the spread tests the shifted statistics.
                    auto x = (torch::randn({s.B, s.C, s.H, s.W}) * 2 + torch::randn({1, s.C, 1, 1}) * 3)
                                 .to(torch::kBFloat16)
                                 .contiguous(at::MemoryFormat::ChannelsLast);
                    auto gamma = torch::rand({s.C}) + 0.5, beta = torch::randn({s.C});
                    torch::Tensor scale, shift;
                    if (with_ss) {
                        scale = torch::randn({s.B, s.C}) * 0.5;
                        shift = torch::randn({s.B, s.C});
                    }
                    auto y = group_norm_act(x, s.groups, gamma, beta, 1e-5, scale, shift, gelu);
                    CHECK(y.scalar_type() == torch::kBFloat16);
                    CHECK(y.sizes() == x.sizes());
                    CHECK(y.is_contiguous(at::MemoryFormat::ChannelsLast));
                    auto ref = reference(x, s.groups, gamma, beta, scale, shift, gelu);
                    // bf16 output: one rounding of 2^-8 relative, plus fp32 arithmetic noise.
                    auto excess = ((y.to(torch::kFloat32) - ref).abs() - ref.abs() * (1.0 / 256) - 1e-3).max();
                    CHECK(excess.item<double>() <= 0);
                }
    }
}

TEST_CASE("fused group norm: the AVX-512 and portable kernels agree", "[models][if]") {
    if (std::string(ds::models::group_norm_act_kernel()) != "avx512") {
        SUCCEED("this CPU runs the portable kernel only");
        return;
    }
    torch::manual_seed(3);
    auto x = (torch::randn({2, 96, 6, 6}) * 4).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    auto gamma = torch::rand({96}) + 0.5, beta = torch::randn({96});
    auto scale = torch::randn({2, 96}), shift = torch::randn({2, 96});
    auto fast = group_norm_act(x, 32, gamma, beta, 1e-6, scale, shift, true);
    torch::Tensor portable;
    {
        KernelChoice choice(true);
        portable = group_norm_act(x, 32, gamma, beta, 1e-6, scale, shift, true);
    }
    // Same statistics; GELU from a polynomial erf vs libm's: at most one bf16 step apart.
    auto diff = (fast.to(torch::kFloat32) - portable.to(torch::kFloat32)).abs();
    CHECK((diff - portable.to(torch::kFloat32).abs() * (1.0 / 128) - 1e-6).max().item<double>() <= 0);
    CHECK(diff.max().item<double>() > 0);  // really two different kernels
}

TEST_CASE("fused group norm refuses inputs it does not handle", "[models][if]") {
    auto gamma = torch::ones({32}), beta = torch::zeros({32});
    auto cl = torch::randn({1, 32, 4, 4}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
    CHECK(ds::models::group_norm_act_applies(cl));
    auto fp32 = torch::randn({1, 32, 4, 4}).contiguous(at::MemoryFormat::ChannelsLast);
    auto nchw = torch::randn({1, 32, 4, 4}).to(torch::kBFloat16);
    CHECK_FALSE(ds::models::group_norm_act_applies(fp32));
    CHECK_FALSE(ds::models::group_norm_act_applies(nchw));
    CHECK_THROWS_AS(group_norm_act(fp32, 8, gamma, beta, 1e-5, {}, {}, true), ds::InvalidRequest);
    CHECK_THROWS_AS(group_norm_act(nchw, 8, gamma, beta, 1e-5, {}, {}, true), ds::InvalidRequest);
    CHECK_THROWS_AS(group_norm_act(cl, 5, gamma, beta, 1e-5, {}, {}, true), ds::InvalidRequest);
    CHECK_THROWS_AS(group_norm_act(cl, 8, torch::ones({16}), beta, 1e-5, {}, {}, true), ds::InvalidRequest);
    CHECK_THROWS_AS(group_norm_act(cl, 8, gamma, beta, 1e-5, torch::zeros({1, 32}), {}, true), ds::InvalidRequest);
}

TEST_CASE("bf16 IF convolutions over many input channels run in slices and stay exact to bf16", "[models][if]") {
    torch::manual_seed(5);
    // 1600 = 3 slices of 534/534/532 channels; 5632 is the width oneDNN 2.6 crashes on in one piece.
    for (std::int64_t cin : {1600, 5632}) {
        for (bool packed : {true, false}) {
            INFO("input channels " << cin << (packed ? ", packed oneDNN operator if built" : ", torch"));
            auto x = torch::randn({2, cin, 5, 5}).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
            auto w = (torch::randn({32, cin, 3, 3}) * 0.02).to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast);
            auto b = torch::randn({32}).to(torch::kBFloat16);
            auto y = ds::models::if_unet_conv(x, w, b, 1, packed);
            CHECK(y.scalar_type() == torch::kBFloat16);
            CHECK(y.sizes() == torch::IntArrayRef({2, 32, 5, 5}));
            auto ref = F::conv2d(x.to(torch::kFloat32), w.to(torch::kFloat32),
                                 F::Conv2dFuncOptions().bias(b.to(torch::kFloat32)).padding(1));
            // One bf16 rounding of the result (2^-8 relative) plus the slices' roundings.
            const double err = ((y.to(torch::kFloat32) - ref).abs().max() / ref.abs().max()).item<double>();
            CHECK(err < 1.5e-2);
            CHECK(err > 0);
        }
    }
}

TEST_CASE("bf16 GELU kernel matches torch's exact GELU in any memory format", "[models]") {
    torch::manual_seed(9);
    auto plain = (torch::randn({3, 5, 7, 9}) * 3).to(torch::kBFloat16);  // 945 values: a tail of 1
    auto cl = plain.contiguous(at::MemoryFormat::ChannelsLast);
    for (bool scalar : {false, true}) {
        KernelChoice choice(scalar);
        INFO("kernel " << ds::models::group_norm_act_kernel());
        for (const auto& x : {plain, cl, plain.reshape({-1})}) {
            auto y = ds::models::gelu_bf16(x);
            CHECK(y.strides() == x.strides());
            auto ref = torch::gelu(x.to(torch::kFloat32));
            auto excess = ((y.to(torch::kFloat32) - ref).abs() - ref.abs() * (1.0 / 256) - 1e-6).max();
            CHECK(excess.item<double>() <= 0);
        }
    }
    CHECK_FALSE(ds::models::gelu_bf16_applies(plain.to(torch::kFloat32)));
    CHECK_FALSE(ds::models::gelu_bf16_applies(plain.transpose(1, 2)));
    CHECK_THROWS_AS(ds::models::gelu_bf16(plain.transpose(1, 2)), ds::InvalidRequest);
}
