#include "core/text/t5_tokenizer.h"

#include <clocale>
#include <cwctype>
#include <regex>

#include "core/engine/errors.h"

namespace ds::text {

namespace {

std::u32string decode_utf8(const std::string& s) {
    std::u32string out;
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) {  // invalid byte: U+FFFD, as Python's "replace"
            out.push_back(0xFFFD);
            ++i;
            continue;
        }
        char32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
        for (int k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
        out.push_back(cp);
        i += len;
    }
    return out;
}

std::string encode_utf8(const std::u32string& s) {
    std::string out;
    for (char32_t cp : s) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }
    return out;
}

// glibc's towlower/iswspace follow Unicode in a UTF-8 locale; set one for this thread's calls.
struct Utf8Locale {
    locale_t loc;
    Utf8Locale() : loc(newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr)) {}
    ~Utf8Locale() {
        if (loc) freelocale(loc);
    }
};

bool py_space(char32_t c, locale_t loc) {
    // Python's str.isspace: Unicode whitespace plus the ASCII separators 0x1C-0x1F.
    return (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 || (loc && iswspace_l(wint_t(c), loc));
}

}  // namespace

std::string lower_strip(const std::string& utf8) {
    static const Utf8Locale locale;
    std::u32string s = decode_utf8(utf8);
    for (auto& c : s) c = locale.loc ? char32_t(towlower_l(wint_t(c), locale.loc)) : char32_t(std::tolower(int(c)));
    size_t b = 0, e = s.size();
    while (b < e && py_space(s[b], locale.loc)) ++b;
    while (e > b && py_space(s[e - 1], locale.loc)) --e;
    return encode_utf8(s.substr(b, e - b));
}

T5Tokenizer T5Tokenizer::open(const std::string& spiece_model, int extra_ids) {
    T5Tokenizer t;
    t.sp_ = SentencePiece::open(spiece_model);
    t.piece_size_ = t.sp_.piece_size();
    t.extra_ids_ = extra_ids;
    if (t.sp_.id_to_piece(kEos) != "</s>" || t.sp_.id_to_piece(kPad) != "<pad>")
        throw ModelLoadError("'" + spiece_model + "' is not a T5 sentencepiece model (id 0 must be <pad>, 1 </s>)");
    return t;
}

Tokens T5Tokenizer::encode(const std::string& prompt, int max_length) const {
    if (max_length < 2) throw InvalidRequest("max_length must be at least 2");
    const std::string text = lower_strip(prompt);
    // Special tokens are matched before SentencePiece (transformers' no-split tokens); the
    // whitespace next to them is dropped, as the slow tokenizer does.
    static const std::regex special(R"(</s>|<pad>|<unk>|<extra_id_(\d{1,3})>)");
    std::vector<std::int64_t> ids;
    auto encode_segment = [&](const std::string& seg) {
        const std::string trimmed = std::regex_replace(seg, std::regex(R"(^\s+|\s+$)"), "");
        if (trimmed.empty()) return;
        for (int id : sp_.encode(trimmed)) ids.push_back(id);
    };
    size_t pos = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), special); it != std::sregex_iterator(); ++it) {
        const auto& m = *it;
        encode_segment(text.substr(pos, m.position() - pos));
        const std::string tok = m.str();
        if (tok == "</s>") ids.push_back(kEos);
        else if (tok == "<pad>") ids.push_back(kPad);
        else if (tok == "<unk>") ids.push_back(kUnk);
        else {
            const int k = std::stoi(m[1].str());
            if (k < extra_ids_) ids.push_back(piece_size_ + extra_ids_ - 1 - k);
            else encode_segment(tok);  // not a sentinel of this vocabulary: ordinary text
        }
        pos = m.position() + m.length();
    }
    encode_segment(text.substr(pos));
    Tokens out;
    out.untruncated = int(ids.size()) + 1;
    if (int(ids.size()) > max_length - 1) ids.resize(max_length - 1);
    ids.push_back(kEos);
    out.mask.assign(ids.size(), 1);
    ids.resize(max_length, kPad);
    out.mask.resize(max_length, 0);
    out.ids = std::move(ids);
    return out;
}

}  // namespace ds::text
