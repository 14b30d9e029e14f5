#pragma once
// A SentencePiece model, used through libds_spshim.so loaded with dlmopen(LM_ID_NEWLM): the
// sentencepiece library and libtorch crash when they share a namespace (protobuf clash), so the
// shim lives in its own link-map namespace and only C types cross over.
#include <memory>
#include <string>
#include <vector>

namespace ds::text {

class SentencePiece {
public:
    // Loads `model_path` (spiece.model). Throws ModelLoadError when the shim or the model cannot
    // be loaded (naming the file and the reason).
    static SentencePiece open(const std::string& model_path);
    std::vector<int> encode(const std::string& utf8) const;
    int piece_size() const;
    std::string id_to_piece(int id) const;
    // Trains a model with SentencePieceTrainer's flags ("--input=corpus.txt --model_prefix=out
    // --vocab_size=..."). Throws ModelLoadError (no shim) or InvalidRequest (the trainer's message).
    static void train(const std::string& flags);
    // Where the shim library was found (for messages).
    static std::string shim_path();

private:
    struct Handle;
    std::shared_ptr<Handle> handle_;
};

}  // namespace ds::text
