// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "core/models/dnnl_ops.h"
#include "core/models/mnist_blocks.h"

using namespace ds::models;

namespace {
double rel_err(const torch::Tensor& got, const torch::Tensor& ref) {
    return ((got.to(torch::kFloat32) - ref).norm() / ref.norm()).item<double>();
}
}  // namespace

TEST_CASE("oneDNN convolution + GELU equals torch's conv2d then GELU", "[models][dnnl]") {
    if (!dnnl_ops::available()) return;  // built without libdnnl-dev (or DS_DNNL=0): torch path only
    torch::manual_seed(11);
    const auto cl = at::MemoryFormat::ChannelsLast;
    for (auto [ci, co, k, stride, pad, gelu] : {std::tuple{5, 7, 3, 1, 1, true}, std::tuple{8, 16, 3, 2, 1, true},
                                                std::tuple{6, 1, 3, 1, 1, false}, std::tuple{4, 12, 2, 1, 1, true}}) {
        INFO(ci << "->" << co << " k" << k << " s" << stride << " p" << pad << " gelu " << gelu);
        auto x = torch::randn({3, ci, 9, 10});
        auto w = torch::randn({co, ci, k, k}) * 0.3;
        auto b = torch::randn({co});
        auto ref = torch::conv2d(x, w, b, stride, pad);
        if (gelu) ref = torch::gelu(ref);
        DnnlConv op(w, b, stride, pad, gelu);
        auto got = op(x);  // an NCHW input is accepted (copied to channels-last)
        REQUIRE(got.sizes() == ref.sizes());
        CHECK(got.is_contiguous(cl));
        CHECK(torch::allclose(got, ref, 1e-4, 1e-4));
        CHECK(torch::equal(op(x.contiguous(cl)), got));  // same result from either layout, cached plan
        auto got2 = op(torch::cat({x, x}, 0));            // a second batch size: its own plan
        CHECK(torch::allclose(got2.narrow(0, 3, 3), ref, 1e-4, 1e-4));

        DnnlConv op16(w.to(torch::kBFloat16), b.to(torch::kBFloat16), stride, pad, gelu);
        auto got16 = op16(x.to(torch::kBFloat16));
        CHECK(got16.scalar_type() == torch::kBFloat16);
        CHECK(rel_err(got16, ref) < 0.02);
        CHECK(rel_err(got16, ref) > 0);  // really bf16
    }
    DnnlConv op(torch::randn({4, 3, 3, 3}), torch::randn({4}), 1, 1, true);
    CHECK_THROWS(op(torch::randn({1, 5, 8, 8})));                          // wrong channel count
    CHECK_THROWS(op(torch::randn({1, 3, 8, 8}).to(torch::kBFloat16)));    // wrong dtype
    CHECK_THROWS(DnnlConv(torch::randn({4, 3, 3}), torch::randn({4}), 1, 1, true));
}

TEST_CASE("oneDNN inner product + GELU equals linear then GELU", "[models][dnnl]") {
    if (!dnnl_ops::available()) return;
    torch::manual_seed(12);
    auto x = torch::randn({5, 24});
    auto w = torch::randn({40, 24}) * 0.2;
    auto b = torch::randn({40});
    for (bool gelu : {false, true}) {
        auto ref = torch::linear(x, w, b);
        if (gelu) ref = torch::gelu(ref);
        DnnlLinear op(w, b, gelu);
        CHECK(torch::allclose(op(x), ref, 1e-4, 1e-4));
        CHECK(torch::allclose(op(x.narrow(0, 0, 1)), ref.narrow(0, 0, 1), 1e-4, 1e-4));
        DnnlLinear op16(w.to(torch::kBFloat16), b.to(torch::kBFloat16), gelu);
        CHECK(rel_err(op16(x.to(torch::kBFloat16)), ref) < 0.02);
    }
    CHECK_THROWS(DnnlLinear(w, b, false)(torch::randn({2, 23})));
}

TEST_CASE("stacked phase kernels and the interleave equal the 4x4 stride-2 transposed convolution",
          "[models]") {
    torch::manual_seed(13);
    const auto cl = at::MemoryFormat::ChannelsLast;
    for (auto [ci, co, h, w] : {std::tuple{6, 5, 7, 7}, std::tuple{3, 4, 4, 6}, std::tuple{2, 3, 1, 1}}) {
        INFO(ci << "->" << co << " at " << h << "x" << w);
        auto x = torch::randn({2, ci, h, w});
        auto wt = torch::randn({ci, co, 4, 4});
        auto b = torch::randn({co});
        auto ref = torch::conv_transpose2d(x, wt, b, 2, 1);
        auto [k4, b4] = stack_phase_kernels(wt, b);
        CHECK(k4.sizes() == torch::IntArrayRef({4 * co, ci, 2, 2}));
        auto got = conv_transpose_k4s2p1_stacked(x, k4, b4);
        REQUIRE(got.sizes() == ref.sizes());
        CHECK(torch::allclose(got, ref, 1e-5, 1e-5));
        // Channels-last in, channels-last out: the interleave runs in NHWC order.
        auto y = torch::conv2d(x, k4, b4, 1, 1).contiguous(cl);
        auto got_cl = interleave_phases(y);
        CHECK(got_cl.is_contiguous(cl));
        CHECK(torch::allclose(got_cl, ref, 1e-5, 1e-5));
    }
    CHECK_THROWS(stack_phase_kernels(torch::randn({3, 2, 3, 3}), torch::randn({2})));
    CHECK_THROWS(interleave_phases(torch::randn({1, 6, 3, 3})));
}
