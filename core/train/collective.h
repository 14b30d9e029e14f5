#pragma once
// The ranks of a data-parallel training run talking through PyTorch's distributed runtime
// (c10d): a TCPStore for the rendezvous and a Gloo process group for the collectives. Nothing
// here is home-made networking. Errors (a rank that died, a hang past the timeout, a port in
// use) come out as ds::DistributedError naming the rank and the operation.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/engine/requests.h"

namespace ds::train {

class Collective {
public:
    // Rendezvous with the other ranks of `config` (blocks until all have joined, at most
    // config.timeout_s). Rank 0 hosts the store at master_addr:master_port.
    explicit Collective(const DistributedConfig& config);
    ~Collective();
    Collective(const Collective&) = delete;
    Collective& operator=(const Collective&) = delete;

    int rank() const { return rank_; }
    int world() const { return world_; }

    // Sums float32 tensors in place over all ranks: flattened into buckets of at most
    // `bucket_bytes` (one all-reduce per bucket) and copied back. `what` names the operation in
    // errors. timeout 0 = the configured one.
    void allreduce_sum(const std::vector<torch::Tensor>& tensors, const std::string& what,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
    // Rank `root`'s values into every rank's tensors (in place, any dtype, same shapes).
    void broadcast(const std::vector<torch::Tensor>& tensors, int root, const std::string& what);

    // Rank `root`'s text to every rank (the argument is ignored elsewhere); returns it.
    std::string broadcast_text(const std::string& text, int root, const std::string& what);

    // Wall time spent inside collectives since construction (the benchmark's all-reduce figure).
    double seconds_in_collectives() const { return seconds_; }
    std::int64_t calls() const { return calls_; }

    static constexpr std::size_t kBucketBytes = 25u << 20;  // as torch's DDP

private:
    void run(const std::string& what, const std::function<void()>& op);
    struct Impl;
    std::unique_ptr<Impl> impl_;
    int rank_ = 0, world_ = 1;
    std::chrono::milliseconds timeout_{0};
    double seconds_ = 0;
    std::int64_t calls_ = 0;
};

// True when this build has c10d's Gloo backend (the trainer refuses world > 1 otherwise).
bool distributed_available();

// The rendezvous torchrun hands its workers: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT (and DS_DIST_TIMEOUT, GLOO_SOCKET_IFNAME). world 1 when WORLD_SIZE is unset.
// Throws InvalidRequest for malformed values.
DistributedConfig distributed_from_env();

}  // namespace ds::train
