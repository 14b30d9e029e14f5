#pragma once
// SHA-256 (FIPS 180-4) as lowercase hex: recipes record the hashes of input images and masks so
// a re-run can tell whether it used the same files, and of outputs to report identical bytes.
#include <string>

namespace ds {

std::string sha256_hex(const std::string& bytes);
// Throws IoError when the file cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace ds
