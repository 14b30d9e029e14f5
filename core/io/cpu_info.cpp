#include "core/io/cpu_info.h"

#include <algorithm>
#include <fstream>

namespace ds::io {
namespace {

struct Info {
    std::string model;
    std::vector<std::string> isa;
};

const Info& info() {
    static const Info cached = [] {
        Info i;
        std::ifstream in("/proc/cpuinfo");
        std::string flags;
        for (std::string line; std::getline(in, line);) {
            auto value = [&] {
                const auto c = line.find(':');
                return c == std::string::npos || c + 2 > line.size() ? std::string() : line.substr(c + 2);
            };
            if (i.model.empty() && line.rfind("model name", 0) == 0) i.model = value();
            if (flags.empty() && line.rfind("flags", 0) == 0) flags = " " + value() + " ";
        }
        for (const char* f : {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"})
            if (flags.find(std::string(" ") + f + " ") != std::string::npos) i.isa.emplace_back(f);
        return i;
    }();
    return cached;
}

}  // namespace

std::string cpu_model() { return info().model; }
std::vector<std::string> cpu_isa() { return info().isa; }
bool cpu_has(const std::string& flag) {
    const auto& isa = info().isa;
    return std::find(isa.begin(), isa.end(), flag) != isa.end();
}

}  // namespace ds::io
