#pragma once
// T5 tokenization as IFPipeline.encode_prompt does it (diffusers 0.24, slow T5Tokenizer, legacy):
// text.lower().strip() (clean_caption=False), special tokens (</s>, <pad>, <unk>, <extra_id_N>)
// split out, SentencePiece on the rest, truncate to max_length - 1, append </s> (1), pad with 0.
// clean_caption=True (IF's pipeline default when bs4 and ftfy are installed) is not implemented:
// it would additionally strip URLs, HTML, @handles, CJK, file names, "free shipping" and similar
// caption noise and normalise quotes/dashes (docs/part-a-if.md).
#include <cstdint>
#include <string>
#include <vector>

#include "core/text/sentencepiece_shim.h"

namespace ds::text {

struct Tokens {
    std::vector<std::int64_t> ids;   // max_length entries
    std::vector<std::int64_t> mask;  // 1 on tokens incl. </s>, 0 on padding
    int untruncated = 0;             // tokens incl. </s> before truncation
    bool truncated() const { return untruncated > int(ids.size()); }
};

// Python's str.lower().strip() on UTF-8 text (Unicode case mapping and whitespace).
std::string lower_strip(const std::string& utf8);

class T5Tokenizer {
public:
    static constexpr int kPad = 0, kEos = 1, kUnk = 2;
    // spiece.model; `extra_ids` sentinels <extra_id_0..N-1> get ids piece_size + N - 1 - k.
    static T5Tokenizer open(const std::string& spiece_model, int extra_ids = 100);
    Tokens encode(const std::string& prompt, int max_length = 77) const;
    int vocab_size() const { return piece_size_ + extra_ids_; }

private:
    SentencePiece sp_;
    int piece_size_ = 0;
    int extra_ids_ = 100;
};

}  // namespace ds::text
