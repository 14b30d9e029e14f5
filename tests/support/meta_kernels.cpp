// Shape-only ("meta" device) kernels for the few ops torch 1.13's C++ library has no meta kernel
// for (Python registers its own; C++ does not). With them, a model runs whole on the meta device,
// where any tensor left on the CPU makes an op throw: test_if_device.cpp uses that to check the
// device-generic path without a GPU. Registered for the test binary only.
#include <torch/library.h>
#include <torch/torch.h>

namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> meta_native_batch_norm(
    const at::Tensor& input, const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&,
    const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&, bool, double, double) {
    const auto c = input.dim() > 1 ? input.size(1) : 1;
    const bool low = input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16;
    auto stats = input.options().dtype(low ? at::kFloat : input.scalar_type());
    return std::make_tuple(at::empty_like(input), at::empty({c}, stats), at::empty({c}, stats));
}

at::Tensor meta_index_select(const at::Tensor& self, int64_t dim, const at::Tensor& index) {
    auto sizes = self.sizes().vec();
    if (!sizes.empty()) sizes[c10::maybe_wrap_dim(dim, self.dim())] = index.numel();
    return at::empty(sizes, self.options());
}

// Plain (not transposed) convolutions, any number of spatial dimensions.
at::Tensor meta_convolution(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>&,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                            at::IntArrayRef, int64_t) {
    TORCH_CHECK(!transposed, "meta_kernels: transposed convolutions are not covered");
    std::vector<int64_t> sizes = {input.size(0), weight.size(0)};
    for (int64_t d = 2; d < input.dim(); ++d) {
        const auto i = size_t(d - 2);
        sizes.push_back((input.size(d) + 2 * padding[i] - dilation[i] * (weight.size(d) - 1) - 1) / stride[i] + 1);
    }
    return at::empty(sizes, input.options(), input.suggest_memory_format());
}

at::Tensor meta_isinf(const at::Tensor& self) { return at::empty(self.sizes(), self.options().dtype(at::kBool)); }

at::Tensor meta_where(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other) {
    auto sizes = at::infer_size(at::infer_size(condition.sizes(), self.sizes()), other.sizes());
    return at::empty(sizes, self.options().dtype(at::result_type(self, other)));
}

}  // namespace

TORCH_LIBRARY_IMPL(aten, Meta, m) {
    m.impl("native_batch_norm", meta_native_batch_norm);
    m.impl("index_select", meta_index_select);
    m.impl("convolution_overrideable", meta_convolution);
    m.impl("isinf", meta_isinf);
    m.impl("where.self", meta_where);
}
