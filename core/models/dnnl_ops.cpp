#include "core/models/dnnl_ops.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <ATen/record_function.h>
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

// Post-ops: accumulate into the destination (sum), then exact GELU.
dnnl::primitive_attr make_attr(bool sum, bool gelu) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per call: safe from several threads
    dnnl::post_ops ops;
    if (sum) ops.append_sum(1.0f);
    if (gelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    if (sum || gelu) attr.set_post_ops(ops);
    return attr;
}

// Weights reordered once from the caller's tensor (any strides: a channels-last kernel or a slice
// of one is read in place) into the layout a primitive asks for. The first packing drops the
// source tensor; a later layout (another input shape) is reordered from the first packed copy.
class PackedWeights {
public:
    explicit PackedWeights(torch::Tensor w)
        : w_(std::move(w)), user_(w_.sizes().vec(), dnnl_type(w_.scalar_type()), w_.strides().vec()),
          bytes_(w_.numel() * static_cast<std::int64_t>(w_.element_size())) {}
    memory get(const memory::desc& want) {
        for (auto& [d, m] : packed_)
            if (d == want) return m;
        memory src = packed_.empty() ? memory(user_, cpu_engine(), w_.data_ptr()) : packed_.front().second;
        memory dst(want, cpu_engine());
        dnnl::stream s(cpu_engine());
        dnnl::reorder(src, dst).execute(s, src, dst);
        s.wait();
        packed_.emplace_back(want, dst);
        w_ = torch::Tensor();  // the packed copy is the weights from now on
        bytes_ = 0;
        for (const auto& pw : packed_) bytes_ += static_cast<std::int64_t>(pw.first.get_size());
        return dst;
    }
    std::int64_t bytes() const { return bytes_; }

private:
    torch::Tensor w_;
    memory::desc user_;
    std::int64_t bytes_;
    std::vector<std::pair<memory::desc, memory>> packed_;
};

// One primitive for one input shape, with everything a call needs besides the tensors.
struct Plan {
    dnnl::primitive prim;
    memory::desc src, bias, dst, scratch;
    memory weights, bias_mem;  // bias_mem: on OpState::bias, set by plan() when there is one
    std::vector<std::int64_t> out_sizes;
};

// Runs a primitive with a scratchpad of the calling thread (user-managed: one primitive may run
// on several threads at once) and waits for it. Small scratchpads come from a buffer the thread
// keeps (at batch 1 an allocation per call was a measurable part of a ~10 us convolution call);
// large ones are allocated per call.
void execute(const dnnl::primitive& prim, const memory::desc& scratch_desc, std::unordered_map<int, memory>& args) {
    constexpr std::int64_t keep_limit = 16 << 20;
    thread_local torch::Tensor kept;
    thread_local dnnl::stream st(cpu_engine());
    torch::Tensor scratch;
    const auto bytes = static_cast<std::int64_t>(scratch_desc.get_size());
    if (bytes > 0) {
        if (bytes <= keep_limit) {
            if (!kept.defined() || kept.numel() < bytes)
                kept = torch::empty({std::max<std::int64_t>(bytes, 1 << 16)}, torch::kUInt8);
            scratch = kept;
        } else {
            scratch = torch::empty({bytes}, torch::kUInt8);
        }
        args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch_desc, cpu_engine(), scratch.data_ptr()));
    }
    prim.execute(st, args);
    st.wait();
}

// What both operators share: the compute dtype, the fp32 bias (may be absent), the packed weights
// and the plans built so far, keyed by input shape.
struct OpState {
    torch::ScalarType dtype;
    torch::Tensor bias;  // fp32, or undefined for none
    PackedWeights weights;
    std::mutex mutex;
    std::map<std::vector<std::int64_t>, std::shared_ptr<const Plan>> plans;

    OpState(const torch::Tensor& w, const torch::Tensor& b)
        : dtype(w.scalar_type()), bias(b.defined() ? b.to(torch::kFloat32).contiguous() : torch::Tensor()),
          weights(w) {}

    // The plan for x's shape; build() makes it the first time.
    template <class Build>
    std::shared_ptr<const Plan> plan(const torch::Tensor& x, Build build) {
        std::lock_guard<std::mutex> lock(mutex);
        auto& slot = plans[x.sizes().vec()];
        if (!slot) {
            auto p = build();
            if (bias.defined()) p->bias_mem = memory(p->bias, cpu_engine(), bias.data_ptr());
            slot = std::move(p);
        }
        return slot;
    }

    // Runs p on x (laid out as p.src) into y (laid out as p.dst; read first when p sums into it).
    void run_into(const Plan& p, const torch::Tensor& x, const torch::Tensor& y) {
        auto& eng = cpu_engine();
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(p.src, eng, x.data_ptr())},
                                             {DNNL_ARG_WEIGHTS, p.weights},
                                             {DNNL_ARG_DST, memory(p.dst, eng, y.data_ptr())}};
        if (bias.defined()) args.emplace(DNNL_ARG_BIAS, p.bias_mem);
        execute(p.prim, p.scratch, args);
    }

    // Runs p on x into a new tensor of p's output sizes (x's dtype) in memory format fmt.
    torch::Tensor run(const Plan& p, const torch::Tensor& x, at::MemoryFormat fmt) {
        auto y = torch::empty(p.out_sizes, x.options().memory_format(fmt));
        run_into(p, x, y);
        return y;
    }
};
}  // namespace

struct DnnlConv::Impl {
    torch::ScalarType dtype;
    std::int64_t out_ch, in_ch, k;
    int stride, padding;
    bool gelu;
    std::vector<std::int64_t> starts, lens;     // the input-channel slices
    std::vector<std::unique_ptr<OpState>> parts;  // one per slice; the first has the bias

    Impl(const torch::Tensor& w, const torch::Tensor& b, int s, int p, bool g, std::int64_t in_slice)
        : dtype(w.scalar_type()), out_ch(w.size(0)), in_ch(w.size(1)), k(w.size(2)), stride(s), padding(p),
          gelu(g) {
        const std::int64_t n = in_slice > 0 && in_ch > in_slice ? (in_ch + in_slice - 1) / in_slice : 1;
        const std::int64_t step = (in_ch + n - 1) / n;  // equal slices: 2816 = 4 x 704
        for (std::int64_t start = 0; start < in_ch; start += step) {
            starts.push_back(start);
            lens.push_back(std::min(step, in_ch - start));
            parts.push_back(std::make_unique<OpState>(w.narrow(1, start, lens.back()),
                                                      start == 0 ? b : torch::Tensor()));
        }
    }

    std::int64_t out_size(std::int64_t in) const { return (in + 2 * padding - k) / stride + 1; }

    // Slice i on an [n, lens[i], h, wd] input. Sliced: fp32 destination, every slice after the
    // first sums into it, GELU (if any) after the last.
    std::shared_ptr<Plan> build(size_t i, std::int64_t n, std::int64_t h, std::int64_t wd) {
        const bool sliced = parts.size() > 1, first = i == 0, last = i + 1 == parts.size();
        const auto dt = dnnl_type(dtype);
        auto p = std::make_shared<Plan>();
        p->src = memory::desc({n, lens[i], h, wd}, dt, tag::nhwc);
        memory::desc wts({out_ch, lens[i], k, k}, dt, tag::any);
        memory::desc dst({n, out_ch, out_size(h), out_size(wd)}, sliced ? memory::data_type::f32 : dt, tag::nhwc);
        const memory::dims strides{stride, stride}, pad{padding, padding};
        const auto kind = dnnl::prop_kind::forward_inference;
        const auto algo = dnnl::algorithm::convolution_direct;
        if (first) p->bias = memory::desc({out_ch}, memory::data_type::f32, tag::a);
        auto d = first ? dnnl::convolution_forward::desc(kind, algo, p->src, wts, p->bias, dst, strides, pad, pad)
                       : dnnl::convolution_forward::desc(kind, algo, p->src, wts, dst, strides, pad, pad);
        dnnl::convolution_forward::primitive_desc pd(d, make_attr(!first, gelu && last), cpu_engine());
        p->prim = dnnl::convolution_forward(pd);
        p->dst = pd.dst_desc();
        p->scratch = pd.scratchpad_desc();
        p->weights = parts[i]->weights.get(pd.weights_desc());
        p->out_sizes = {n, out_ch, out_size(h), out_size(wd)};
        return p;
    }
};

DnnlConv::DnnlConv(const torch::Tensor& w, const torch::Tensor& b, int stride, int padding, bool gelu,
                   std::int64_t in_slice) {
    TORCH_CHECK(w.dim() == 4 && w.size(2) == w.size(3) && b.dim() == 1 && b.size(0) == w.size(0),
                "DnnlConv: expects w [O, I, k, k] and b [O]");
    dnnl_type(w.scalar_type());  // refuses other dtypes here rather than at the first call
    impl_ = std::make_shared<Impl>(w, b, stride, padding, gelu, in_slice);
}
DnnlConv::~DnnlConv() = default;

torch::Tensor DnnlConv::operator()(const torch::Tensor& x_in) const {
    RECORD_FUNCTION("ds::dnnl_conv", std::vector<c10::IValue>());  // named in op profiles
    auto& m = *impl_;
    TORCH_CHECK(x_in.dim() == 4 && x_in.size(1) == m.in_ch && x_in.scalar_type() == m.dtype,
                "DnnlConv: input of the wrong shape or dtype");
    const auto cl = at::MemoryFormat::ChannelsLast;
    const auto x = x_in.contiguous(cl);
    const auto n = x.size(0), h = x.size(2), wd = x.size(3);
    if (m.parts.size() == 1) {
        const auto p = m.parts[0]->plan(x, [&] { return m.build(0, n, h, wd); });
        return m.parts[0]->run(*p, x, cl);
    }
    auto y = torch::empty({n, m.out_ch, m.out_size(h), m.out_size(wd)}, x.options().dtype(torch::kFloat32).memory_format(cl));
    for (size_t i = 0; i < m.parts.size(); ++i) {
        const auto xs = x.narrow(1, m.starts[i], m.lens[i]).contiguous(cl);
        const auto p = m.parts[i]->plan(xs, [&] { return m.build(i, n, h, wd); });
        m.parts[i]->run_into(*p, xs, y);
    }
    return y.to(m.dtype);
}

std::int64_t DnnlConv::out_channels() const { return impl_->out_ch; }
std::int64_t DnnlConv::in_channels() const { return impl_->in_ch; }
std::int64_t DnnlConv::kernel_size() const { return impl_->k; }
std::int64_t DnnlConv::slices() const { return static_cast<std::int64_t>(impl_->parts.size()); }
std::int64_t DnnlConv::weight_bytes() const {
    std::int64_t total = 0;
    for (const auto& part : impl_->parts) {
        std::lock_guard<std::mutex> lock(part->mutex);
        total += part->weights.bytes();
    }
    return total;
}

namespace dnnl_ops {
namespace {
// A primitive on plain strided tensors (the matmul's a, b, out; the softmax's src, dst).
struct PrimitivePlan {
    dnnl::primitive prim;
    std::vector<memory::desc> descs;
    memory::desc scratch;
};

memory::desc strided_desc(const torch::Tensor& t) {
    return memory::desc(t.sizes().vec(), dnnl_type(t.scalar_type()), t.strides().vec());
}

// Primitives cached by the operands' dtypes, shapes and strides (+ `extra`): a UNet step repeats
// a handful of them. `make(descs, attr)` returns the primitive descriptor of a new one.
class PlanCache {
public:
    template <class Make>
    std::shared_ptr<const PrimitivePlan> get(std::initializer_list<const torch::Tensor*> operands, std::int64_t extra,
                                             Make make) {
        std::vector<std::int64_t> key{extra};
        for (const auto* t : operands) {
            key.push_back(static_cast<std::int64_t>(t->scalar_type()));
            key.insert(key.end(), t->sizes().begin(), t->sizes().end());
            key.insert(key.end(), t->strides().begin(), t->strides().end());
        }
        std::lock_guard<std::mutex> lock(mutex_);
        auto& slot = plans_[key];
        if (!slot) {
            auto p = std::make_shared<PrimitivePlan>();
            for (const auto* t : operands) p->descs.push_back(strided_desc(*t));
            dnnl::primitive_attr attr;
            attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
            const auto pd = make(p->descs, attr);
            p->prim = dnnl::primitive(pd);
            p->scratch = pd.scratchpad_desc();
            slot = p;
        }
        return slot;
    }

private:
    std::mutex mutex_;
    std::map<std::vector<std::int64_t>, std::shared_ptr<const PrimitivePlan>> plans_;
};

// Runs the plan on the operands' memory (argument ids in the order of its descs).
void run_plan(const PrimitivePlan& plan, std::initializer_list<std::pair<int, const torch::Tensor*>> operands) {
    auto& eng = cpu_engine();
    std::unordered_map<int, memory> args;
    size_t i = 0;
    for (const auto& [arg, t] : operands) args.emplace(arg, memory(plan.descs.at(i++), eng, t->data_ptr()));
    execute(plan.prim, plan.scratch, args);
}
}  // namespace

void matmul_into(const torch::Tensor& a, const torch::Tensor& b, float alpha, const torch::Tensor& out) {
    RECORD_FUNCTION("ds::dnnl_matmul", std::vector<c10::IValue>());
    TORCH_CHECK(a.dim() >= 2 && a.dim() == b.dim() && a.dim() == out.dim() && a.dim() <= 5,
                "matmul_into: a, b and out must have the same rank (2 to 5)");
    TORCH_CHECK(a.size(-1) == b.size(-2) && out.size(-2) == a.size(-2) && out.size(-1) == b.size(-1) &&
                    a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2) &&
                    a.sizes().slice(0, a.dim() - 2) == out.sizes().slice(0, out.dim() - 2),
                "matmul_into: shapes do not multiply");
    TORCH_CHECK(a.scalar_type() == b.scalar_type() &&
                    (out.scalar_type() == a.scalar_type() || out.scalar_type() == torch::kFloat32),
                "matmul_into: a and b share a dtype; out is fp32 or that dtype");
    static PlanCache cache;
    std::int32_t alpha_bits;
    std::memcpy(&alpha_bits, &alpha, sizeof alpha_bits);
    const auto plan = cache.get({&a, &b, &out}, alpha_bits, [&](const std::vector<memory::desc>& d, dnnl::primitive_attr& attr) {
        if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
        return dnnl::matmul::primitive_desc(dnnl::matmul::desc(d[0], d[1], d[2]), attr, cpu_engine());
    });
    run_plan(*plan, {{DNNL_ARG_SRC, &a}, {DNNL_ARG_WEIGHTS, &b}, {DNNL_ARG_DST, &out}});
}

void softmax_into(const torch::Tensor& x, const torch::Tensor& out) {
    RECORD_FUNCTION("ds::dnnl_softmax", std::vector<c10::IValue>());
    TORCH_CHECK(x.dim() >= 2 && x.dim() <= 5 && x.sizes() == out.sizes(),
                "softmax_into: x and out must have the same shape (2 to 5 dims)");
    auto supported = [](const torch::Tensor& t) {
        return t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16;
    };
    TORCH_CHECK(supported(x) && supported(out) && x.device().is_cpu() && out.device().is_cpu(),
                "softmax_into: CPU fp32 or bf16 tensors only");
    TORCH_CHECK(x.data_ptr() != out.data_ptr() || (x.scalar_type() == out.scalar_type() && x.strides() == out.strides()),
                "softmax_into: in place needs the same dtype and strides");
    static PlanCache cache;
    const auto plan = cache.get({&x, &out}, 0, [&](const std::vector<memory::desc>& d, dnnl::primitive_attr& attr) {
        dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, d[0],
                                            d[1], static_cast<int>(x.dim() - 1));
        return dnnl::softmax_v2_forward::primitive_desc(desc, attr, cpu_engine());
    });
    run_plan(*plan, {{DNNL_ARG_SRC, &x}, {DNNL_ARG_DST, &out}});
}

}  // namespace dnnl_ops

struct DnnlLinear::Impl : OpState {
    std::int64_t out_f, in_f;
    bool gelu;

    Impl(const torch::Tensor& w, const torch::Tensor& b, bool g)
        : OpState(w, b), out_f(w.size(0)), in_f(w.size(1)), gelu(g) {}

    std::shared_ptr<Plan> build(std::int64_t n) {
        const auto dt = dnnl_type(dtype);
        auto p = std::make_shared<Plan>();
        p->src = memory::desc({n, in_f}, dt, tag::nc);
        p->bias = memory::desc({out_f}, memory::data_type::f32, tag::a);
        memory::desc wts({out_f, in_f}, dt, tag::any);
        memory::desc dst({n, out_f}, dt, tag::nc);
        dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, p->src, wts, p->bias, dst);
        dnnl::inner_product_forward::primitive_desc pd(d, make_attr(false, gelu), cpu_engine());
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
DnnlConv::DnnlConv(const torch::Tensor&, const torch::Tensor&, int, int, bool, std::int64_t) {
    throw std::logic_error("DnnlConv: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
DnnlConv::~DnnlConv() = default;
torch::Tensor DnnlConv::operator()(const torch::Tensor&) const { return {}; }
std::int64_t DnnlConv::out_channels() const { return 0; }
std::int64_t DnnlConv::in_channels() const { return 0; }
std::int64_t DnnlConv::kernel_size() const { return 0; }
std::int64_t DnnlConv::slices() const { return 0; }
std::int64_t DnnlConv::weight_bytes() const { return 0; }
struct DnnlLinear::Impl {};
DnnlLinear::DnnlLinear(const torch::Tensor&, const torch::Tensor&, bool) {
    throw std::logic_error("DnnlLinear: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
DnnlLinear::~DnnlLinear() = default;
torch::Tensor DnnlLinear::operator()(const torch::Tensor&) const { return {}; }
void dnnl_ops::matmul_into(const torch::Tensor&, const torch::Tensor&, float, const torch::Tensor&) {
    throw std::logic_error("dnnl_ops::matmul_into: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
void dnnl_ops::softmax_into(const torch::Tensor&, const torch::Tensor&) {
    throw std::logic_error("dnnl_ops::softmax_into: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}

#endif

}  // namespace ds::models
