// The engine's model cache: reuse, least-recently-used eviction of models no request holds, and
// memory accounting (with a simulated machine).
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/models/model_cache.h"

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
