#pragma once
// Loaded models kept between requests, owned by the engine (one per ds::Engine): the MNIST models
// (through ModelRegistry::load), the DeepFloyd IF UNets of stage I and II and the prompt encoders.
// Each entry records the bytes its weights hold.
// Before a load, models no request holds any more are freed, least recently used first, until the
// new one fits in the memory available (io::available_memory_bytes); so a machine that holds both
// IF stages keeps them for the next run, and a 24 GB machine runs the pipeline one model at a time.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <typeinfo>
#include <vector>

namespace ds::models {

class ModelCache {
public:
    // `available`: bytes free for new allocations (default io::available_memory_bytes; tests
    // give their own).
    explicit ModelCache(std::function<std::int64_t()> available = {});

    struct EntryInfo {
        std::string key;
        std::string what;          // for messages ("IF stage I UNet (bf16)")
        std::int64_t bytes = 0;
        bool in_use = false;       // held by a request right now
    };

    // The model under `key`, loaded by `load` when absent, after making room for its `bytes` and
    // the `working` bytes its use needs besides (activations). T must be the type the key was
    // stored with (std::logic_error otherwise).
    template <class T>
    std::shared_ptr<T> get(const std::string& key, const std::string& what, std::int64_t bytes,
                           const std::function<std::shared_ptr<T>()>& load, std::int64_t working = 0) {
        if (auto held = find(key, typeid(T))) return std::static_pointer_cast<T>(held);
        make_room(bytes + working);
        std::shared_ptr<T> model = load();
        insert(key, what, bytes, typeid(T), model);
        return model;
    }

    // Frees models no request holds (least recently used first) until `bytes` more fit in the
    // memory available, or none is left to free. Returns the bytes freed.
    std::int64_t make_room(std::int64_t bytes);
    // Bytes that make_room could free now (entries not in use).
    std::int64_t evictable_bytes() const;
    std::int64_t held_bytes() const;
    std::vector<EntryInfo> entries() const;  // most recently used first
    // Drops every entry (models still held by a request live on until released).
    void clear();
    // Called with the entry's `what` each time one is freed to make room.
    void set_on_evict(std::function<void(const std::string&)> f);

private:
    struct Entry {
        std::string key, what, type;
        std::int64_t bytes = 0;
        std::shared_ptr<void> model;
        std::uint64_t last_use = 0;
    };
    std::shared_ptr<void> find(const std::string& key, const std::type_info& type);
    void insert(const std::string& key, const std::string& what, std::int64_t bytes, const std::type_info& type,
                std::shared_ptr<void> model);

    mutable std::mutex mutex_;
    std::vector<Entry> entries_;
    std::uint64_t clock_ = 0;
    std::function<void(const std::string&)> on_evict_;
    std::function<std::int64_t()> available_;
};

}  // namespace ds::models
