#include "core/io/bounded_json.h"

#include <fstream>
#include <system_error>
#include <filesystem>

#include "core/engine/errors.h"

namespace ds::io {

int json_depth(std::string_view text, int limit) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) deepest = depth;
            if (deepest > limit) return deepest;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

nlohmann::json parse_json_bounded(std::string_view text, const std::string& what, std::size_t max_bytes,
                                  int max_depth) {
    if (text.size() > max_bytes)
        throw DataError(what + ": " + std::to_string(text.size()) + " bytes of JSON, more than the " +
                        std::to_string(max_bytes) + " allowed");
    if (json_depth(text, max_depth) > max_depth)
        throw DataError(what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        throw DataError(what + ": not valid JSON (" + e.what() + ")");
    }
}

nlohmann::json read_json_file(const std::string& path, std::size_t max_bytes, int max_depth) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw IoError("cannot read '" + path + "': " + ec.message());
    if (size > max_bytes)
        throw DataError("'" + path + "': " + std::to_string(size) + " bytes, more than the " +
                        std::to_string(max_bytes) + " allowed for this JSON file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError("cannot read '" + path + "'");
    std::string text(static_cast<std::size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(size));
    if (static_cast<std::size_t>(in.gcount()) != size) throw IoError("cannot read '" + path + "': short read");
    return parse_json_bounded(text, "'" + path + "'", max_bytes, max_depth);
}

}  // namespace ds::io
