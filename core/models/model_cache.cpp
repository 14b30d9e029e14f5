#include "core/models/model_cache.h"

#include <algorithm>
#include <stdexcept>

#include "core/io/huge_pages.h"
#include "core/io/memory.h"

namespace ds::models {

ModelCache::ModelCache(std::function<std::int64_t()> available)
    : available_(available ? std::move(available) : std::function<std::int64_t()>(io::available_memory_bytes)) {}

std::shared_ptr<void> ModelCache::find(const std::string& key, const std::type_info& type) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& e : entries_)
        if (e.key == key) {
            if (e.type != type.name())
                throw std::logic_error("model cache: '" + key + "' is stored as another type");
            e.last_use = ++clock_;
            return e.model;
        }
    return nullptr;
}

void ModelCache::insert(const std::string& key, const std::string& what, std::int64_t bytes,
                        const std::type_info& type, std::shared_ptr<void> model) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; }),
                   entries_.end());
    entries_.push_back({key, what, type.name(), bytes, std::move(model), ++clock_});
}

std::int64_t ModelCache::make_room(std::int64_t bytes) {
    std::int64_t freed = 0;
    for (;;) {
        const std::int64_t available = available_();
        if (available < 0 || available >= bytes) return freed;
        std::shared_ptr<void> victim;  // released outside the lock
        std::string what;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto best = entries_.end();
            for (auto it = entries_.begin(); it != entries_.end(); ++it)
                if (it->model.use_count() == 1 && (best == entries_.end() || it->last_use < best->last_use)) best = it;
            if (best == entries_.end()) return freed;
            victim = std::move(best->model);
            what = best->what;
            freed += best->bytes;
            entries_.erase(best);
        }
        victim.reset();
        io::release_cached_cpu_memory();  // the allocator's kept blocks go back too
        if (on_evict_) on_evict_(what);
    }
}

std::int64_t ModelCache::evictable_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::int64_t n = 0;
    for (const auto& e : entries_)
        if (e.model.use_count() == 1) n += e.bytes;
    return n;
}

std::int64_t ModelCache::held_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::int64_t n = 0;
    for (const auto& e : entries_) n += e.bytes;
    return n;
}

std::vector<ModelCache::EntryInfo> ModelCache::entries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<const Entry*> sorted;
    for (const auto& e : entries_) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) { return a->last_use > b->last_use; });
    std::vector<EntryInfo> out;
    for (const auto* e : sorted) out.push_back({e->key, e->what, e->bytes, e->model.use_count() > 1});
    return out;
}

void ModelCache::clear() {
    std::vector<Entry> gone;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        gone.swap(entries_);
    }
}

void ModelCache::set_on_evict(std::function<void(const std::string&)> f) {
    std::lock_guard<std::mutex> lock(mutex_);
    on_evict_ = std::move(f);
}

}  // namespace ds::models
