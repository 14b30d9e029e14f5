// The engine's model cache: reuse, least-recently-used eviction of models no request holds, and
// memory accounting (with a simulated machine).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/models/model_cache.h"
#include "core/models/model_registry.h"

namespace {
struct Fake {
    int id = 0;
};
}  // namespace

TEST_CASE("the model cache reuses loaded models and frees unused ones, oldest first, to make room",
          "[models][cache]") {
    const std::int64_t machine = 100;  // bytes of a simulated machine; models take what they hold
    ds::models::ModelCache* self = nullptr;
    ds::models::ModelCache cache([&] { return std::max<std::int64_t>(0, machine - self->held_bytes()); });
    self = &cache;
    std::vector<std::string> evicted;
    cache.set_on_evict([&](const std::string& what) { evicted.push_back(what); });
    int loads = 0;
    auto get = [&](const std::string& key, std::int64_t bytes) {
        return cache.get<Fake>(key, "model " + key, bytes, [&] {
            ++loads;
            return std::make_shared<Fake>(Fake{loads});
        });
    };
    auto a = get("a", 40);
    auto b = get("b", 40);
    CHECK(loads == 2);
    CHECK(get("a", 40)->id == a->id);  // reused, and now the most recently used
    CHECK(loads == 2);
    CHECK(cache.held_bytes() == 80);
    CHECK(cache.evictable_bytes() == 0);  // both held by "requests"
    // A third model that does not fit while a and b are held: nothing can be freed.
    {
        auto c = get("c", 40);
        CHECK(evicted.empty());
        CHECK(cache.held_bytes() == 120);
    }
    a.reset();
    b.reset();
    // a, b and c are unused now (last used: b, then a, then c); a 70-byte model frees the least
    // recently used first, until it fits.
    CHECK(cache.evictable_bytes() == 120);
    auto d = get("d", 70);
    CHECK(evicted == std::vector<std::string>{"model b", "model a", "model c"});
    CHECK(cache.held_bytes() == 70);
    const auto entries = cache.entries();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].key == "d");
    CHECK(entries[0].in_use);
    CHECK_THROWS_AS(cache.get<int>("d", "wrong type", 1, [] { return std::make_shared<int>(1); }), std::logic_error);
    cache.clear();
    CHECK(cache.held_bytes() == 0);
    CHECK(d->id == 4);  // a request's model outlives clear()
}

TEST_CASE("MNIST models load once through the engine's cache, and again when the file changes", "[models]") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("ds_registry_cache_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path file = dir / "m.safetensors";
    fs::copy_file(std::string(DS_SOURCE_DIR) + "/assets/models/mnist-time-fm.safetensors", file);
    ds::models::ModelCache cache([] { return std::int64_t(1) << 40; });
    ds::models::ModelRegistry registry(std::string(DS_SOURCE_DIR) + "/assets", &cache);
    auto a = registry.load(file.string());
    auto b = registry.load(file.string());
    CHECK(a.unet.get() == b.unet.get());  // the same weights, not a second load
    REQUIRE(cache.entries().size() == 1);
    CHECK(cache.entries()[0].what == "model m.safetensors");
    CHECK(cache.entries()[0].bytes == 2 * std::int64_t(fs::file_size(file)));  // fp16 file, fp32 in memory
    fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
    auto c = registry.load(file.string());
    CHECK(c.unet.get() != a.unet.get());  // a changed file is read again
    CHECK(cache.entries().size() == 2);
    // Unused models are freed like any other entry when memory runs short.
    CHECK(cache.make_room(std::int64_t(1) << 41) > 0);
    // Without a cache every load reads the file.
    ds::models::ModelRegistry plain(std::string(DS_SOURCE_DIR) + "/assets");
    CHECK(plain.load(file.string()).unet.get() != plain.load(file.string()).unet.get());
    fs::remove_all(dir);
}
