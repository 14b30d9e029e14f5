// SHA-256 through OpenSSL's libcrypto (EVP digest interface).
#include <fstream>
#include <memory>
#include <vector>

#include <openssl/evp.h>

#include "core/engine/errors.h"
#include "core/engine/hashing.h"

namespace ds {

namespace {

class Digest {
public:
    Digest() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
        if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
            throw Error("libcrypto could not start a SHA-256 digest");
    }
    void update(const char* p, std::size_t n) {
        if (n > 0 && EVP_DigestUpdate(ctx_.get(), p, n) != 1) throw Error("libcrypto SHA-256 update failed");
    }
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) throw Error("libcrypto SHA-256 final failed");
        static const char* digits = "0123456789abcdef";
        std::string out;
        out.reserve(2 * len);
        for (unsigned int i = 0; i < len; ++i) {
            out.push_back(digits[md[i] >> 4]);
            out.push_back(digits[md[i] & 15]);
        }
        return out;
    }

private:
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

std::string sha256_hex(const std::string& bytes) {
    Digest d;
    d.update(bytes.data(), bytes.size());
    return d.hex();
}

std::string sha256_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError("cannot read '" + path + "' to hash it");
    Digest d;
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        d.update(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) throw IoError("error while reading '" + path + "'");
    return d.hex();
}

}  // namespace ds
