#pragma once
// Exceptions thrown by the engine. Messages say what was wrong, where, and what to do.
#include <stdexcept>
#include <string>

namespace ds {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// A request field is out of range or inconsistent; nothing was started.
struct InvalidRequest : Error {
    using Error::Error;
};
// A model or checkpoint could not be loaded (missing, corrupt, wrong kind or shape).
struct ModelLoadError : Error {
    using Error::Error;
};
// A file could not be read or written.
struct IoError : Error {
    using Error::Error;
};
// Input data is malformed (IDX files, safetensors, images, datasets).
struct DataError : Error {
    using Error::Error;
};
// Training diverged (NaN/Inf loss). The last good checkpoint was kept.
struct TrainingDiverged : Error {
    using Error::Error;
};

// A data-parallel run lost a rank: it died, hung past the timeout, or the rendezvous failed. The
// last checkpoint rank 0 wrote is kept; --resume continues from it with any number of ranks.
struct DistributedError : Error {
    using Error::Error;
};

// Not an error: thrown inside core when a CancelToken asks to stop now, and turned into
// Outcome::Cancelled at the facade. Never escapes Engine methods.
struct Cancelled {};

}  // namespace ds
