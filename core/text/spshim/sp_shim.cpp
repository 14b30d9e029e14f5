// libds_spshim.so: the sentencepiece library behind a plain C interface. It is loaded with
// dlmopen(LM_ID_NEWLM) into its own link-map namespace, because sentencepiece's bundled protobuf
// and the one libtorch uses crash when they share a process namespace. Only POD types cross the
// boundary (the two namespaces have separate C++ runtimes).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstring>
#include <string>
#include <vector>

namespace {
void copy_error(const std::string& msg, char* err, int err_len) {
    if (!err || err_len <= 0) return;
    std::strncpy(err, msg.c_str(), size_t(err_len) - 1);
    err[err_len - 1] = '\0';
}
}  // namespace

extern "C" {

// Loads a .model file; nullptr and a message in `err` on failure.
void* ds_sp_open(const char* model_path, char* err, int err_len) {
    auto* sp = new sentencepiece::SentencePieceProcessor();
    const auto status = sp->Load(model_path);
    if (!status.ok()) {
        copy_error(status.ToString(), err, err_len);
        delete sp;
        return nullptr;
    }
    return sp;
}

// Encodes UTF-8 `text` into ids; writes at most `max_ids` and returns the full count (-1 on error).
int ds_sp_encode(void* handle, const char* text, int* ids, int max_ids, char* err, int err_len) {
    auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
    std::vector<int> out;
    const auto status = sp->Encode(text, &out);
    if (!status.ok()) {
        copy_error(status.ToString(), err, err_len);
        return -1;
    }
    for (int i = 0; i < int(out.size()) && i < max_ids; ++i) ids[i] = out[i];
    return int(out.size());
}

int ds_sp_piece_size(void* handle) {
    return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

// The piece of an id, copied into `out` (NUL-terminated); returns its length or -1.
int ds_sp_id_to_piece(void* handle, int id, char* out, int out_len) {
    auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
    if (id < 0 || id >= sp->GetPieceSize()) return -1;
    const std::string piece = sp->IdToPiece(id);
    copy_error(piece, out, out_len);
    return int(piece.size());
}

// Trains a model with SentencePieceTrainer's flag string ("--input=... --model_prefix=..."):
// 0, or -1 and a message in `err`.
int ds_sp_train(const char* args, char* err, int err_len) {
    const auto status = sentencepiece::SentencePieceTrainer::Train(args);
    if (!status.ok()) {
        copy_error(status.ToString(), err, err_len);
        return -1;
    }
    return 0;
}

void ds_sp_close(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

}  // extern "C"
