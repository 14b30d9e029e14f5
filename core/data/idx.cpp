#include "core/data/idx.h"

#include <zlib.h>

#include <fstream>
#include <iterator>

#include "core/engine/errors.h"

namespace ds::data {

namespace {
// Inflates a gzip stream; the output is capped so a bomb cannot exhaust memory.
std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& in, const std::string& path) {
    constexpr std::size_t kMaxBytes = std::size_t(2) << 30;  // 2 GiB: far above any IDX dataset
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw IoError(path + ": zlib init failed");
    std::vector<std::uint8_t> out;
    std::uint8_t buf[1 << 16];
    zs.next_in = const_cast<Bytef*>(in.data());
    zs.avail_in = static_cast<uInt>(in.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = buf;
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            throw DataError(path + ": corrupt or truncated gzip data; delete it and re-run scripts/setup.sh");
        }
        out.insert(out.end(), buf, buf + (sizeof buf - zs.avail_out));
        if (out.size() > kMaxBytes) {
            inflateEnd(&zs);
            throw DataError(path + ": decompresses to more than 2 GiB; not an IDX dataset");
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            inflateEnd(&zs);
            throw DataError(path + ": truncated gzip data");
        }
    }
    inflateEnd(&zs);
    return out;
}
}  // namespace

IdxArray read_idx(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw IoError("cannot open '" + path + "'");
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw IoError("error reading '" + path + "'");
    if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) bytes = gunzip(bytes, path);
    return parse_idx(bytes.data(), bytes.size(), path);
}

}  // namespace ds::data
