#include "core/train/collective.h"

#include <cstdlib>
#include <cstring>
#include <functional>

#include <torch/torch.h>

#include "core/engine/errors.h"

#ifdef DS_HAVE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace ds::train {

namespace {
std::string where(int rank, int world) {
    return "rank " + std::to_string(rank) + " of " + std::to_string(world);
}
}  // namespace

#ifdef DS_HAVE_C10D_GLOO

struct Collective::Impl {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

bool distributed_available() { return true; }

Collective::Collective(const DistributedConfig& c)
    : impl_(std::make_unique<Impl>()), rank_(c.rank), world_(c.world),
      timeout_(std::chrono::milliseconds(static_cast<std::int64_t>(c.timeout_s * 1000))) {
    if (c.world < 2 || c.rank < 0 || c.rank >= c.world)
        throw InvalidRequest("data-parallel training needs 0 <= rank < world size and a world of 2 or more (rank " +
                             std::to_string(c.rank) + ", world " + std::to_string(c.world) + ")");
    if (c.master_port < 1 || c.master_port > 65535)
        throw InvalidRequest("MASTER_PORT " + std::to_string(c.master_port) + " is not a TCP port");
    try {
        c10d::TCPStoreOptions so;
        so.port = static_cast<std::uint16_t>(c.master_port);
        so.isServer = c.rank == 0;
        so.numWorkers = static_cast<std::size_t>(c.world);
        so.waitWorkers = true;
        so.timeout = timeout_;
        impl_->store = c10::make_intrusive<c10d::TCPStore>(c.master_addr, so);
        auto options = c10d::ProcessGroupGloo::Options::create(timeout_);
        if (!c.ifname.empty())
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(c.ifname));
        else if (c.master_addr == "127.0.0.1" || c.master_addr == "localhost")
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else
            options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        options->threads = 2;
        impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, c.rank, c.world, options);
    } catch (const std::exception& e) {
        throw DistributedError(where(rank_, world_) + ": could not join the run at " + c.master_addr + ":" +
                               std::to_string(c.master_port) + " within " + std::to_string(int(c.timeout_s)) +
                               " s (are all " + std::to_string(c.world) +
                               " ranks started, with the same MASTER_ADDR and MASTER_PORT?): " + e.what());
    }
}

void Collective::run(const std::string& what, const std::function<void()>& op) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
        op();
    } catch (const std::exception& e) {
        std::string msg = e.what();
        if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
        throw DistributedError(where(rank_, world_) + ": " + what +
                               " failed: another rank stopped answering (it exited, crashed or hung for more than " +
                               std::to_string(timeout_.count() / 1000) + " s): " + msg);
    }
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++calls_;
}

void Collective::allreduce_sum(const std::vector<torch::Tensor>& tensors, const std::string& what,
                               std::chrono::milliseconds timeout) {
    if (tensors.empty()) return;
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = timeout.count() > 0 ? timeout : timeout_;
    // Buckets of consecutive tensors up to kBucketBytes, each flattened into one buffer.
    std::size_t begin = 0;
    while (begin < tensors.size()) {
        std::size_t end = begin, bytes = 0;
        do {
            bytes += tensors[end].numel() * sizeof(float);
            ++end;
        } while (end < tensors.size() && bytes + tensors[end].numel() * sizeof(float) <= kBucketBytes);
        std::vector<torch::Tensor> parts;
        for (std::size_t i = begin; i < end; ++i) {
            TORCH_CHECK(tensors[i].scalar_type() == torch::kFloat32, "allreduce_sum takes float32 tensors");
            parts.push_back(tensors[i].reshape({-1}));
        }
        std::vector<torch::Tensor> flat{parts.size() == 1 ? parts[0].clone() : torch::cat(parts)};
        run(what, [&] { impl_->group->allreduce(flat, opts)->wait(opts.timeout); });
        std::int64_t offset = 0;
        for (std::size_t i = begin; i < end; ++i) {
            const auto n = tensors[i].numel();
            tensors[i].view({-1}).copy_(flat[0].narrow(0, offset, n));
            offset += n;
        }
        begin = end;
    }
}

void Collective::broadcast(const std::vector<torch::Tensor>& tensors, int root, const std::string& what) {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = timeout_;
    for (const auto& t : tensors) {
        std::vector<torch::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
        run(what, [&] { impl_->group->broadcast(one, opts)->wait(opts.timeout); });
        if (!t.is_contiguous()) t.copy_(one[0]);
    }
}

std::string Collective::broadcast_text(const std::string& text, int root, const std::string& what) {
    auto size = torch::tensor({std::int64_t(rank_ == root ? text.size() : 0)}, torch::kInt64);
    broadcast({size}, root, what);
    const auto n = size[0].item<std::int64_t>();
    if (n < 0 || n > (std::int64_t(64) << 20)) throw DistributedError(what + ": implausible message size");
    auto bytes = torch::zeros({n}, torch::kUInt8);
    if (rank_ == root && n > 0) std::memcpy(bytes.data_ptr(), text.data(), static_cast<std::size_t>(n));
    broadcast({bytes}, root, what);
    return std::string(reinterpret_cast<const char*>(bytes.data_ptr()), static_cast<std::size_t>(n));
}

#else  // no c10d Gloo in this build

struct Collective::Impl {};

bool distributed_available() { return false; }

Collective::Collective(const DistributedConfig& c) : rank_(c.rank), world_(c.world) {
    throw InvalidRequest("this build has no distributed runtime (c10d with Gloo): install libgloo-dev and "
                         "rebuild to train on more than one process");
}
void Collective::run(const std::string&, const std::function<void()>&) {}
void Collective::allreduce_sum(const std::vector<torch::Tensor>&, const std::string&, std::chrono::milliseconds) {}
void Collective::broadcast(const std::vector<torch::Tensor>&, int, const std::string&) {}
std::string Collective::broadcast_text(const std::string& text, int, const std::string&) { return text; }

#endif

Collective::~Collective() = default;

DistributedConfig distributed_from_env() {
    DistributedConfig c;
    auto get = [](const char* name) -> const char* {
        const char* v = std::getenv(name);
        return v && *v ? v : nullptr;
    };
    auto integer = [&](const char* name, int lo, int hi, int fallback) {
        const char* v = get(name);
        if (!v) return fallback;
        char* end = nullptr;
        const long x = std::strtol(v, &end, 10);
        if (*end != '\0' || x < lo || x > hi)
            throw InvalidRequest(std::string(name) + "='" + v + "' must be a whole number from " + std::to_string(lo) +
                                 " to " + std::to_string(hi));
        return static_cast<int>(x);
    };
    c.world = integer("WORLD_SIZE", 1, 4096, 1);
    if (c.world == 1) return c;
    c.rank = integer("RANK", 0, c.world - 1, -1);
    if (c.rank < 0) throw InvalidRequest("WORLD_SIZE is set but RANK is not: start every worker with its RANK");
    c.local_rank = integer("LOCAL_RANK", 0, 4095, c.rank);
    if (const char* a = get("MASTER_ADDR")) c.master_addr = a;
    c.master_port = integer("MASTER_PORT", 1, 65535, c.master_port);
    c.timeout_s = integer("DS_DIST_TIMEOUT", 1, 86400, static_cast<int>(c.timeout_s));
    if (const char* i = get("GLOO_SOCKET_IFNAME")) c.ifname = i;
    return c;
}

}  // namespace ds::train
