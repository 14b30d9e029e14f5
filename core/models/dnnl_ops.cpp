#include "core/models/dnnl_ops.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <torch/torch.h>

#ifdef DS_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace ds::models {

namespace dnnl_ops {
bool available() {
#ifdef DS_HAVE_DNNL
    static const bool on = [] {
        const char* v = std::getenv("DS_DNNL");
        return !(v && std::strcmp(v, "0") == 0);
    }();
    return on;
#else
    return false;
#endif
}

bool applies(const torch::Tensor& x) {
    return available() && x.defined() && x.device().is_cpu() &&
           (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16);
}
}  // namespace dnnl_ops

#ifdef DS_HAVE_DNNL
namespace {
using dnnl::memory;
using tag = memory::format_tag;

dnnl::engine& cpu_engine() {
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

memory::data_type dnnl_type(torch::ScalarType t) {
    if (t == torch::kFloat32) return memory::data_type::f32;
    if (t == torch::kBFloat16) return memory::data_type::bf16;
    throw std::invalid_argument("oneDNN operators take fp32 or bf16 tensors");
}

dnnl::primitive_attr make_attr(bool gelu) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per call: safe from several threads
    if (gelu) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
        attr.set_post_ops(ops);
    }
    return attr;
}

// Weights reordered once from the user layout into the layout a primitive asks for; kept per
// requested layout (normally one for every input shape).
class PackedWeights {
public:
    PackedWeights(torch::Tensor w, memory::desc user) : w_(std::move(w)), user_(std::move(user)) {}
    memory get(const memory::desc& want) {
        for (auto& [d, m] : packed_)
            if (d == want) return m;
        memory src(user_, cpu_engine(), w_.data_ptr());
        memory dst(want, cpu_engine());
        dnnl::stream s(cpu_engine());
        dnnl::reorder(src, dst).execute(s, src, dst);
        s.wait();
        packed_.emplace_back(want, dst);
        return dst;
    }

private:
    torch::Tensor w_;
    memory::desc user_;
    std::vector<std::pair<memory::desc, memory>> packed_;
};

void execute(const dnnl::primitive& p, const memory::desc& scratch_md,
             std::unordered_map<int, memory> args) {
    torch::Tensor scratch;
    if (scratch_md.get_size() > 0) {
        scratch = torch::empty({static_cast<std::int64_t>(scratch_md.get_size())}, torch::kUInt8);
        args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch_md, cpu_engine(), scratch.data_ptr()));
    }
    dnnl::stream s(cpu_engine());
    p.execute(s, args);
    s.wait();
}
}  // namespace

struct DnnlConv::Impl {
    struct Plan {
        dnnl::convolution_forward prim;
        memory::desc src, dst, scratch;
        memory weights;
        std::array<std::int64_t, 4> out;  // N, O, OH, OW
        std::string impl;
    };
    torch::ScalarType dtype;
    std::int64_t out_ch, in_ch, k;
    int stride, padding;
    bool gelu;
    torch::Tensor bias;  // fp32 [O]
    std::mutex mutex;
    PackedWeights weights;
    std::map<std::array<std::int64_t, 3>, std::shared_ptr<const Plan>> plans;

    Impl(const torch::Tensor& w, const torch::Tensor& b, int s, int p, bool g)
        : dtype(w.scalar_type()), out_ch(w.size(0)), in_ch(w.size(1)), k(w.size(2)), stride(s), padding(p),
          gelu(g), bias(b.to(torch::kFloat32).contiguous()),
          weights(w.contiguous(), memory::desc({w.size(0), w.size(1), w.size(2), w.size(3)}, dnnl_type(w.scalar_type()),
                                               tag::oihw)) {}

    std::shared_ptr<const Plan> plan(std::int64_t n, std::int64_t h, std::int64_t wd) {
        std::lock_guard<std::mutex> lock(mutex);
        auto& slot = plans[{n, h, wd}];
        if (slot) return slot;
        const auto dt = dnnl_type(dtype);
        const std::int64_t oh = (h + 2 * padding - k) / stride + 1, ow = (wd + 2 * padding - k) / stride + 1;
        memory::desc src({n, in_ch, h, wd}, dt, tag::nhwc);
        memory::desc wts({out_ch, in_ch, k, k}, dt, tag::any);
        memory::desc bia({out_ch}, memory::data_type::f32, tag::a);
        memory::desc dst({n, out_ch, oh, ow}, dt, tag::nhwc);
        dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                          src, wts, bia, dst, {stride, stride}, {padding, padding},
                                          {padding, padding});
        dnnl::convolution_forward::primitive_desc pd(d, make_attr(gelu), cpu_engine());
        auto p = std::make_shared<Plan>();
        p->prim = dnnl::convolution_forward(pd);
        p->src = src;
        p->dst = pd.dst_desc();
        p->scratch = pd.scratchpad_desc();
        p->weights = weights.get(pd.weights_desc());
        p->out = {n, out_ch, oh, ow};
        p->impl = pd.impl_info_str();
        slot = p;
        return slot;
    }
};

DnnlConv::DnnlConv(const torch::Tensor& w, const torch::Tensor& b, int stride, int padding, bool gelu) {
    TORCH_CHECK(w.dim() == 4 && w.size(2) == w.size(3) && b.dim() == 1 && b.size(0) == w.size(0),
                "DnnlConv: expects w [O, I, k, k] and b [O]");
    impl_ = std::make_shared<Impl>(w, b, stride, padding, gelu);
}
DnnlConv::~DnnlConv() = default;

torch::Tensor DnnlConv::operator()(const torch::Tensor& x_in) const {
    TORCH_CHECK(x_in.dim() == 4 && x_in.size(1) == impl_->in_ch && x_in.scalar_type() == impl_->dtype,
                "DnnlConv: input of the wrong shape or dtype");
    const auto x = x_in.contiguous(at::MemoryFormat::ChannelsLast);
    const auto p = impl_->plan(x.size(0), x.size(2), x.size(3));
    auto y = torch::empty({p->out[0], p->out[1], p->out[2], p->out[3]},
                          x.options().memory_format(at::MemoryFormat::ChannelsLast));
    auto& eng = cpu_engine();
    execute(p->prim, p->scratch,
            {{DNNL_ARG_SRC, memory(p->src, eng, x.data_ptr())},
             {DNNL_ARG_WEIGHTS, p->weights},
             {DNNL_ARG_BIAS, memory(memory::desc({impl_->out_ch}, memory::data_type::f32, tag::a), eng,
                                    impl_->bias.data_ptr())},
             {DNNL_ARG_DST, memory(p->dst, eng, y.data_ptr())}});
    return y;
}

std::string DnnlConv::implementation(const torch::Tensor& x) const {
    return impl_->plan(x.size(0), x.size(2), x.size(3))->impl;
}

struct DnnlLinear::Impl {
    struct Plan {
        dnnl::inner_product_forward prim;
        memory::desc src, dst, scratch;
        memory weights;
    };
    torch::ScalarType dtype;
    std::int64_t out_f, in_f;
    bool gelu;
    torch::Tensor bias;
    std::mutex mutex;
    PackedWeights weights;
    std::map<std::int64_t, std::shared_ptr<const Plan>> plans;

    Impl(const torch::Tensor& w, const torch::Tensor& b, bool g)
        : dtype(w.scalar_type()), out_f(w.size(0)), in_f(w.size(1)), gelu(g),
          bias(b.to(torch::kFloat32).contiguous()),
          weights(w.contiguous(), memory::desc({w.size(0), w.size(1)}, dnnl_type(w.scalar_type()), tag::oi)) {}

    std::shared_ptr<const Plan> plan(std::int64_t n) {
        std::lock_guard<std::mutex> lock(mutex);
        auto& slot = plans[n];
        if (slot) return slot;
        const auto dt = dnnl_type(dtype);
        memory::desc src({n, in_f}, dt, tag::nc);
        memory::desc wts({out_f, in_f}, dt, tag::any);
        memory::desc bia({out_f}, memory::data_type::f32, tag::a);
        memory::desc dst({n, out_f}, dt, tag::nc);
        dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, src, wts, bia, dst);
        dnnl::inner_product_forward::primitive_desc pd(d, make_attr(gelu), cpu_engine());
        auto p = std::make_shared<Plan>();
        p->prim = dnnl::inner_product_forward(pd);
        p->src = src;
        p->dst = pd.dst_desc();
        p->scratch = pd.scratchpad_desc();
        p->weights = weights.get(pd.weights_desc());
        slot = p;
        return slot;
    }
};

DnnlLinear::DnnlLinear(const torch::Tensor& w, const torch::Tensor& b, bool gelu) {
    TORCH_CHECK(w.dim() == 2 && b.dim() == 1 && b.size(0) == w.size(0), "DnnlLinear: expects w [O, I] and b [O]");
    impl_ = std::make_shared<Impl>(w, b, gelu);
}
DnnlLinear::~DnnlLinear() = default;

torch::Tensor DnnlLinear::operator()(const torch::Tensor& x_in) const {
    TORCH_CHECK(x_in.dim() == 2 && x_in.size(1) == impl_->in_f && x_in.scalar_type() == impl_->dtype,
                "DnnlLinear: input of the wrong shape or dtype");
    const auto x = x_in.contiguous();
    const auto p = impl_->plan(x.size(0));
    auto y = torch::empty({x.size(0), impl_->out_f}, x.options());
    auto& eng = cpu_engine();
    execute(p->prim, p->scratch,
            {{DNNL_ARG_SRC, memory(p->src, eng, x.data_ptr())},
             {DNNL_ARG_WEIGHTS, p->weights},
             {DNNL_ARG_BIAS, memory(memory::desc({impl_->out_f}, memory::data_type::f32, tag::a), eng,
                                    impl_->bias.data_ptr())},
             {DNNL_ARG_DST, memory(p->dst, eng, y.data_ptr())}});
    return y;
}

#else  // no oneDNN headers at build time: the operators exist but refuse to run

struct DnnlConv::Impl {};
DnnlConv::DnnlConv(const torch::Tensor&, const torch::Tensor&, int, int, bool) {
    throw std::logic_error("DnnlConv: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
DnnlConv::~DnnlConv() = default;
torch::Tensor DnnlConv::operator()(const torch::Tensor&) const { return {}; }
std::string DnnlConv::implementation(const torch::Tensor&) const { return "none"; }
struct DnnlLinear::Impl {};
DnnlLinear::DnnlLinear(const torch::Tensor&, const torch::Tensor&, bool) {
    throw std::logic_error("DnnlLinear: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
DnnlLinear::~DnnlLinear() = default;
torch::Tensor DnnlLinear::operator()(const torch::Tensor&) const { return {}; }

#endif

}  // namespace ds::models
