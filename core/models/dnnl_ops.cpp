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

// One primitive for one input shape, with everything a call needs besides the tensors.
struct Plan {
    dnnl::primitive prim;
    memory::desc src, bias, dst, scratch;
    memory weights;
    std::vector<std::int64_t> out_sizes;
};

// What both operators share: the compute dtype, the fp32 bias, the packed weights and the plans
// built so far, keyed by input shape.
struct OpState {
    torch::ScalarType dtype;
    torch::Tensor bias;  // fp32
    PackedWeights weights;
    std::mutex mutex;
    std::map<std::vector<std::int64_t>, std::shared_ptr<const Plan>> plans;

    OpState(const torch::Tensor& w, const torch::Tensor& b, tag user_tag)
        : dtype(w.scalar_type()), bias(b.to(torch::kFloat32).contiguous()),
          weights(w.contiguous(), memory::desc(w.sizes().vec(), dnnl_type(w.scalar_type()), user_tag)) {}

    // The plan for x's shape; build() makes it the first time.
    template <class Build>
    std::shared_ptr<const Plan> plan(const torch::Tensor& x, Build build) {
        std::lock_guard<std::mutex> lock(mutex);
        auto& slot = plans[x.sizes().vec()];
        if (!slot) slot = build();
        return slot;
    }

    // Runs p on x (laid out as p.src) into a new tensor of p's output sizes in memory format fmt.
    torch::Tensor run(const Plan& p, const torch::Tensor& x, at::MemoryFormat fmt) {
        auto y = torch::empty(p.out_sizes, x.options().memory_format(fmt));
        auto& eng = cpu_engine();
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(p.src, eng, x.data_ptr())},
                                             {DNNL_ARG_WEIGHTS, p.weights},
                                             {DNNL_ARG_BIAS, memory(p.bias, eng, bias.data_ptr())},
                                             {DNNL_ARG_DST, memory(p.dst, eng, y.data_ptr())}};
        torch::Tensor scratch;  // user-managed scratchpad: one primitive may run on several threads
        if (p.scratch.get_size() > 0) {
            scratch = torch::empty({static_cast<std::int64_t>(p.scratch.get_size())}, torch::kUInt8);
            args.emplace(DNNL_ARG_SCRATCHPAD, memory(p.scratch, eng, scratch.data_ptr()));
        }
        dnnl::stream s(eng);
        p.prim.execute(s, args);
        s.wait();
        return y;
    }
};
}  // namespace

struct DnnlConv::Impl : OpState {
    std::int64_t out_ch, in_ch, k;
    int stride, padding;
    bool gelu;

    Impl(const torch::Tensor& w, const torch::Tensor& b, int s, int p, bool g)
        : OpState(w, b, tag::oihw), out_ch(w.size(0)), in_ch(w.size(1)), k(w.size(2)), stride(s), padding(p),
          gelu(g) {}

    std::shared_ptr<const Plan> build(std::int64_t n, std::int64_t h, std::int64_t wd) {
        const auto dt = dnnl_type(dtype);
        const std::int64_t oh = (h + 2 * padding - k) / stride + 1, ow = (wd + 2 * padding - k) / stride + 1;
        auto p = std::make_shared<Plan>();
        p->src = memory::desc({n, in_ch, h, wd}, dt, tag::nhwc);
        p->bias = memory::desc({out_ch}, memory::data_type::f32, tag::a);
        memory::desc wts({out_ch, in_ch, k, k}, dt, tag::any);
        memory::desc dst({n, out_ch, oh, ow}, dt, tag::nhwc);
        dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                          p->src, wts, p->bias, dst, {stride, stride}, {padding, padding},
                                          {padding, padding});
        dnnl::convolution_forward::primitive_desc pd(d, make_attr(gelu), cpu_engine());
        p->prim = dnnl::convolution_forward(pd);
        p->dst = pd.dst_desc();
        p->scratch = pd.scratchpad_desc();
        p->weights = weights.get(pd.weights_desc());
        p->out_sizes = {n, out_ch, oh, ow};
        return p;
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
    const auto cl = at::MemoryFormat::ChannelsLast;
    const auto x = x_in.contiguous(cl);
    const auto p = impl_->plan(x, [&] { return impl_->build(x.size(0), x.size(2), x.size(3)); });
    return impl_->run(*p, x, cl);
}

struct DnnlLinear::Impl : OpState {
    std::int64_t out_f, in_f;
    bool gelu;

    Impl(const torch::Tensor& w, const torch::Tensor& b, bool g)
        : OpState(w, b, tag::oi), out_f(w.size(0)), in_f(w.size(1)), gelu(g) {}

    std::shared_ptr<const Plan> build(std::int64_t n) {
        const auto dt = dnnl_type(dtype);
        auto p = std::make_shared<Plan>();
        p->src = memory::desc({n, in_f}, dt, tag::nc);
        p->bias = memory::desc({out_f}, memory::data_type::f32, tag::a);
        memory::desc wts({out_f, in_f}, dt, tag::any);
        memory::desc dst({n, out_f}, dt, tag::nc);
        dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, p->src, wts, p->bias, dst);
        dnnl::inner_product_forward::primitive_desc pd(d, make_attr(gelu), cpu_engine());
        p->prim = dnnl::inner_product_forward(pd);
        p->dst = pd.dst_desc();
        p->scratch = pd.scratchpad_desc();
        p->weights = weights.get(pd.weights_desc());
        p->out_sizes = {n, out_f};
        return p;
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
    const auto p = impl_->plan(x, [&] { return impl_->build(x.size(0)); });
    return impl_->run(*p, x, at::MemoryFormat::Contiguous);
}

#else  // no oneDNN headers at build time: the operators exist but refuse to run

struct DnnlConv::Impl {};
DnnlConv::DnnlConv(const torch::Tensor&, const torch::Tensor&, int, int, bool) {
    throw std::logic_error("DnnlConv: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
DnnlConv::~DnnlConv() = default;
torch::Tensor DnnlConv::operator()(const torch::Tensor&) const { return {}; }
struct DnnlLinear::Impl {};
DnnlLinear::DnnlLinear(const torch::Tensor&, const torch::Tensor&, bool) {
    throw std::logic_error("DnnlLinear: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
DnnlLinear::~DnnlLinear() = default;
torch::Tensor DnnlLinear::operator()(const torch::Tensor&) const { return {}; }

#endif

}  // namespace ds::models
