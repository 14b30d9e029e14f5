#include "core/text/sentencepiece_shim.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "core/engine/errors.h"

namespace fs = std::filesystem;

namespace ds::text {

namespace {

using OpenFn = void* (*)(const char*, char*, int);
using EncodeFn = int (*)(void*, const char*, int*, int, char*, int);
using SizeFn = int (*)(void*);
using PieceFn = int (*)(void*, int, char*, int);
using CloseFn = void (*)(void*);
using TrainFn = int (*)(const char*, char*, int);

struct Library {
    void* dl = nullptr;
    OpenFn open = nullptr;
    EncodeFn encode = nullptr;
    SizeFn size = nullptr;
    PieceFn piece = nullptr;
    CloseFn close = nullptr;
    TrainFn train = nullptr;  // optional (shims before 2026-12 lack it)
    std::string path;
};

std::string find_shim() {
    if (const char* env = std::getenv("DS_SPSHIM"); env && *env) return env;
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        for (const auto& candidate :
             {exe.parent_path().parent_path() / "lib" / "diffusion-studio" / "libds_spshim.so",
              exe.parent_path().parent_path() / "lib" / "libds_spshim.so"})
            if (fs::exists(candidate)) return candidate.string();
    }
#ifdef DS_SPSHIM_BUILD_PATH
    if (fs::exists(DS_SPSHIM_BUILD_PATH)) return DS_SPSHIM_BUILD_PATH;
#endif
    return {};
}

// The shim is loaded once per process, into a fresh namespace.
const Library& library() {
    static std::once_flag once;
    static Library lib;
    static std::string error;
    std::call_once(once, [] {
        lib.path = find_shim();
        if (lib.path.empty()) {
            error = "the sentencepiece shim (libds_spshim.so) was not found: this build has no T5 "
                    "tokenizer (install libsentencepiece-dev and rebuild, or set DS_SPSHIM)";
            return;
        }
        lib.dl = dlmopen(LM_ID_NEWLM, lib.path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib.dl) {
            const char* e = dlerror();
            error = "cannot load '" + lib.path + "': " + (e ? e : "unknown error");
            return;
        }
        lib.open = reinterpret_cast<OpenFn>(dlsym(lib.dl, "ds_sp_open"));
        lib.encode = reinterpret_cast<EncodeFn>(dlsym(lib.dl, "ds_sp_encode"));
        lib.size = reinterpret_cast<SizeFn>(dlsym(lib.dl, "ds_sp_piece_size"));
        lib.piece = reinterpret_cast<PieceFn>(dlsym(lib.dl, "ds_sp_id_to_piece"));
        lib.close = reinterpret_cast<CloseFn>(dlsym(lib.dl, "ds_sp_close"));
        lib.train = reinterpret_cast<TrainFn>(dlsym(lib.dl, "ds_sp_train"));
        if (!lib.open || !lib.encode || !lib.size || !lib.piece || !lib.close) {
            error = "'" + lib.path + "' is not a Diffusion Studio sentencepiece shim";
            lib.dl = nullptr;
        }
    });
    if (!lib.dl) throw ModelLoadError(error);
    return lib;
}

}  // namespace

struct SentencePiece::Handle {
    void* sp = nullptr;
    ~Handle() {
        if (sp) library().close(sp);
    }
};

SentencePiece SentencePiece::open(const std::string& model_path) {
    const auto& lib = library();
    if (!fs::exists(model_path))
        throw ModelLoadError("tokenizer model '" + model_path + "' is missing");
    char err[512] = {0};
    void* sp = lib.open(model_path.c_str(), err, sizeof err);
    if (!sp) throw ModelLoadError("cannot load tokenizer model '" + model_path + "': " + err);
    SentencePiece out;
    out.handle_ = std::make_shared<Handle>();
    out.handle_->sp = sp;
    return out;
}

std::vector<int> SentencePiece::encode(const std::string& utf8) const {
    const auto& lib = library();
    std::vector<int> ids(256);
    char err[512] = {0};
    int n = lib.encode(handle_->sp, utf8.c_str(), ids.data(), int(ids.size()), err, sizeof err);
    if (n > int(ids.size())) {
        ids.resize(n);
        n = lib.encode(handle_->sp, utf8.c_str(), ids.data(), int(ids.size()), err, sizeof err);
    }
    if (n < 0) throw InvalidRequest(std::string("tokenizer failed: ") + err);
    ids.resize(n);
    return ids;
}

int SentencePiece::piece_size() const { return library().size(handle_->sp); }

std::string SentencePiece::id_to_piece(int id) const {
    char buf[256] = {0};
    return library().piece(handle_->sp, id, buf, sizeof buf) < 0 ? std::string() : std::string(buf);
}

void SentencePiece::train(const std::string& flags) {
    const auto& lib = library();
    if (!lib.train) throw ModelLoadError("'" + lib.path + "' cannot train tokenizer models (an older shim): rebuild it");
    char err[512] = {0};
    if (lib.train(flags.c_str(), err, sizeof err) != 0)
        throw InvalidRequest(std::string("training the tokenizer model failed: ") + err);
}

std::string SentencePiece::shim_path() { return find_shim(); }

}  // namespace ds::text
