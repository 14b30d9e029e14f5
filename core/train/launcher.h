#pragma once
// `dstudio train --nproc N`: the calling process becomes rank 0 and starts ranks 1..N-1 as child
// processes of the dstudio binary (`dstudio --threads T [--data DIR] train --worker`, the
// rendezvous in torchrun's environment variables). Their output goes to <run>/workers/rank-K.log.
// A worker dies with its parent (PR_SET_PDEATHSIG); the destructor terminates any still running.
#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/engine/requests.h"

namespace ds::train {

struct LaunchSpec {
    std::string exe;        // the dstudio binary ("" = next to this executable)
    int nproc = 2;
    int threads = 1;        // --threads of each worker
    std::string data_dir;   // --data of each worker ("" = its default)
    DistributedConfig dist; // addr, port, timeout for all; rank/world set per worker
    std::string log_dir;    // created; rank-K.log per worker
};

struct WorkerExit {
    int rank = 0;
    int code = 0;           // exit status, or 128 + signal
    std::string log;        // its log file
};

class LocalWorkers {
public:
    explicit LocalWorkers(const LaunchSpec& spec);  // throws InvalidRequest / IoError before starting any
    ~LocalWorkers();
    LocalWorkers(const LocalWorkers&) = delete;
    LocalWorkers& operator=(const LocalWorkers&) = delete;

    // Waits up to `grace` for every worker to exit, then SIGTERM, then SIGKILL after 5 s more.
    std::vector<WorkerExit> finish(std::chrono::seconds grace);
    // "rank 1 exited with code 9 (last line of its log: ...)" for each failed worker; "" if none.
    static std::string describe_failures(const std::vector<WorkerExit>& exits);

private:
    std::vector<pid_t> pids_;
    std::vector<std::string> logs_;
    bool finished_ = false;
};

// A TCP port free on the loopback interface right now (bound to port 0 and released).
int free_loopback_port();
// The dstudio binary next to the running executable.
std::string default_worker_exe();

}  // namespace ds::train
