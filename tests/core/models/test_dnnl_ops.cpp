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

TEST_CASE("oneDNN convolution over input-channel slices sums them in fp32 and owns packed weights",
          "[models][dnnl]") {
    if (!dnnl_ops::available()) return;
    torch::manual_seed(14);
    const auto cl = at::MemoryFormat::ChannelsLast;
    for (auto [ci, co, k, slice, gelu] : {std::tuple{40, 6, 3, 16, false}, std::tuple{33, 5, 1, 11, true},
                                          std::tuple{12, 4, 3, 12, true}}) {
        INFO(ci << "->" << co << " k" << k << " slices of <= " << slice << " gelu " << gelu);
        auto x = torch::randn({2, ci, 6, 7});
        auto w = torch::randn({co, ci, k, k}) * 0.2;
        auto b = torch::randn({co});
        auto ref = torch::conv2d(x, w, b, 1, k / 2);
        if (gelu) ref = torch::gelu(ref);
        const std::int64_t slices = (ci + slice - 1) / slice;
        {
            // A channels-last kernel is read in place (strided source), then only the packed copy is kept.
            auto wcl = w.contiguous(cl);
            DnnlConv op(wcl, b, 1, k / 2, gelu, slice);
            CHECK(op.slices() == slices);
            CHECK(op.in_channels() == ci);
            CHECK(op.out_channels() == co);
            CHECK(op.kernel_size() == k);
            wcl = torch::Tensor();  // the caller lets go: the operator still has the weights
            auto got = op(x);
            REQUIRE(got.sizes() == ref.sizes());
            CHECK(got.is_contiguous(cl));
            CHECK(got.scalar_type() == torch::kFloat32);
            CHECK(torch::allclose(got, ref, 1e-4, 1e-4));
            CHECK(op.weight_bytes() >= co * ci * k * k * 4);  // packed (possibly padded)
            auto got3 = op(torch::cat({x, x.narrow(0, 0, 1)}, 0).narrow(3, 1, 5));  // another shape: repacked
            CHECK(torch::allclose(got3.narrow(0, 0, 2), gelu ? torch::gelu(torch::conv2d(x.narrow(3, 1, 5), w, b, 1, k / 2))
                                                              : torch::conv2d(x.narrow(3, 1, 5), w, b, 1, k / 2),
                                  1e-4, 1e-4));
        }
        DnnlConv op16(w.to(torch::kBFloat16), b.to(torch::kBFloat16), 1, k / 2, gelu, slice);
        auto x16 = x.to(torch::kBFloat16);
        auto got16 = op16(x16);
        CHECK(got16.scalar_type() == torch::kBFloat16);
        // Against the fp32 convolution of the same bf16 inputs: only the final rounding to bf16.
        auto ref16 = torch::conv2d(x16.to(torch::kFloat32), w.to(torch::kBFloat16).to(torch::kFloat32), b, 1, k / 2);
        if (gelu) ref16 = torch::gelu(ref16);
        CHECK(rel_err(got16, ref16) < 4e-3);
    }
}

TEST_CASE("oneDNN batched matrix product reads and writes strided views in place", "[models][dnnl]") {
    if (!dnnl_ops::available()) return;
    torch::manual_seed(15);
    // Attention's layout: heads of [B, N, heads, d] projections, text keys first.
    const std::int64_t B = 2, N = 9, Nk = 13, nh = 3, d = 8;
    auto q = torch::randn({B, N, nh * d}), k = torch::randn({B, Nk, nh * d}), v = torch::randn({B, Nk, nh * d});
    auto heads = [&](const torch::Tensor& t) { return t.view({B, -1, nh, d}).transpose(1, 2); };
    const float alpha = 0.35f;
    auto ref_scores = torch::matmul(heads(q), heads(k).transpose(-1, -2)) * alpha;
    auto scores = torch::empty({B, nh, N, Nk});
    dnnl_ops::matmul_into(heads(q), heads(k).transpose(-1, -2), alpha, scores);
    CHECK(torch::allclose(scores, ref_scores, 1e-5, 1e-5));
    auto probs = torch::softmax(scores, -1);
    auto o = torch::empty({B, N, nh * d});
    dnnl_ops::matmul_into(probs, heads(v), 1.0f, heads(o));  // written straight into [B, N, C]
    CHECK(torch::allclose(o, torch::matmul(probs, heads(v)).transpose(1, 2).reshape({B, N, nh * d}), 1e-5, 1e-5));

    // bf16 inputs with an fp32 result, and with a bf16 result; 3-D.
    auto a16 = torch::randn({4, 6, 32}).to(torch::kBFloat16), b16 = torch::randn({4, 32, 5}).to(torch::kBFloat16);
    auto ref = torch::matmul(a16.to(torch::kFloat32), b16.to(torch::kFloat32));
    auto out32 = torch::empty({4, 6, 5});
    dnnl_ops::matmul_into(a16, b16, 1.0f, out32);
    CHECK(torch::allclose(out32, ref, 1e-4, 1e-4));  // fp32 accumulation of exact bf16 products
    auto out16 = torch::empty({4, 6, 5}, torch::kBFloat16);
    dnnl_ops::matmul_into(a16, b16, 1.0f, out16);
    CHECK(rel_err(out16, ref) < 4e-3);

    CHECK_THROWS(dnnl_ops::matmul_into(torch::randn({2, 3, 4}), torch::randn({2, 5, 4}), 1.0f, torch::empty({2, 3, 4})));
    CHECK_THROWS(dnnl_ops::matmul_into(a16, b16.to(torch::kFloat32), 1.0f, out32));  // mixed input dtypes
    CHECK_THROWS(dnnl_ops::matmul_into(torch::randn({3, 4}), torch::randn({4, 5}), 1.0f, torch::empty({2, 3, 5})));
}

TEST_CASE("oneDNN softmax over the last dimension: fp32 in place, fp32 to bf16, strided views", "[models][dnnl]") {
    if (!dnnl_ops::available()) return;
    torch::manual_seed(16);
    auto x = torch::randn({2, 3, 5, 333}) * 4;  // attention-score-like rows, long and odd
    auto ref = torch::softmax(x, -1);
    auto in_place = x.clone();
    dnnl_ops::softmax_into(in_place, in_place);
    CHECK(torch::allclose(in_place, ref, 1e-6, 1e-6));
    CHECK(torch::allclose(in_place.sum(-1), torch::ones({2, 3, 5}), 1e-5, 1e-5));

    auto p16 = torch::empty_like(x, x.options().dtype(torch::kBFloat16));
    dnnl_ops::softmax_into(x, p16);  // rounded once from fp32: within one bf16 ulp of the reference
    CHECK((p16.to(torch::kFloat32) - ref).abs().le(ref.abs() * (1.0 / 128) + 1e-7).all().item<bool>());

    // A transposed (non-contiguous) source: softmax still runs over the last logical dimension.
    auto t = torch::randn({4, 7, 6}).transpose(1, 2);
    auto out = torch::empty({4, 6, 7});
    dnnl_ops::softmax_into(t, out);
    CHECK(torch::allclose(out, torch::softmax(t, -1), 1e-6, 1e-6));

    // Large scores (no overflow: the maximum is subtracted) and a bf16 source.
    auto big = torch::tensor({1000.0f, 999.0f, -1000.0f}).view({1, 3});
    auto pb = torch::empty({1, 3});
    dnnl_ops::softmax_into(big, pb);
    CHECK(torch::allclose(pb, torch::softmax(big, -1), 1e-6, 1e-7));
    auto x16 = x.to(torch::kBFloat16);
    auto o32 = torch::empty_like(x);
    dnnl_ops::softmax_into(x16, o32);
    CHECK(torch::allclose(o32, torch::softmax(x16.to(torch::kFloat32), -1), 1e-6, 1e-6));

    CHECK_THROWS(dnnl_ops::softmax_into(x, torch::empty({2, 3, 5, 332})));              // shape
    CHECK_THROWS(dnnl_ops::softmax_into(x.to(torch::kFloat64), torch::empty_like(x)));  // dtype
    CHECK_THROWS(dnnl_ops::softmax_into(torch::randn({7}), torch::empty({7})));         // rank
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
        // A pure copy: in bf16 (2-byte runs) it moves exactly the same values.
        auto got_bf = interleave_phases(y.to(torch::kBFloat16));
        CHECK(got_bf.is_contiguous(cl));
        CHECK(torch::equal(got_bf, got_cl.to(torch::kBFloat16)));
    }
    CHECK_THROWS(stack_phase_kernels(torch::randn({3, 2, 3, 3}), torch::randn({2})));
    CHECK_THROWS(interleave_phases(torch::randn({1, 6, 3, 3})));
}
