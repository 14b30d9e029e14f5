#include "core/train/launcher.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "core/engine/errors.h"

extern char** environ;

namespace ds::train {
namespace fs = std::filesystem;

namespace {
int exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::string last_line(const std::string& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    if (last.size() > 300) last = last.substr(last.size() - 300);
    return last;
}
}  // namespace

std::string default_worker_exe() {
    std::error_code ec;
    const auto self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return "dstudio";
    return (self.parent_path() / "dstudio").string();
}

int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw IoError(std::string("cannot open a socket to find a free port: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    ::close(fd);
    if (port <= 0) throw IoError("no free TCP port on 127.0.0.1 for the workers' rendezvous");
    return port;
}

LocalWorkers::LocalWorkers(const LaunchSpec& s) {
    if (s.nproc < 2 || s.nproc > 64) throw InvalidRequest("--nproc must be from 2 to 64");
    const std::string exe = s.exe.empty() ? default_worker_exe() : s.exe;
    if (::access(exe.c_str(), X_OK) != 0)
        throw InvalidRequest("cannot start the workers: '" + exe + "' is not an executable dstudio binary");
    std::error_code ec;
    fs::create_directories(s.log_dir, ec);
    if (ec) throw IoError("cannot create the workers' log folder '" + s.log_dir + "': " + ec.message());

    std::vector<std::string> args{exe, "--threads", std::to_string(s.threads)};
    if (!s.data_dir.empty()) args.insert(args.end(), {"--data", s.data_dir});
    args.insert(args.end(), {"train", "--worker"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The parent's environment minus any rendezvous of its own, plus this worker's.
    std::vector<std::string> base;
    for (char** e = environ; *e; ++e) {
        const std::string kv = *e;
        bool ours = false;
        for (const char* k : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "MASTER_ADDR=", "MASTER_PORT=", "DS_DIST_TIMEOUT=",
                              "OMP_NUM_THREADS="})
            ours = ours || kv.rfind(k, 0) == 0;
        if (!ours) base.push_back(kv);
    }
    for (int rank = 1; rank < s.nproc; ++rank) {
        std::vector<std::string> env = base;
        env.push_back("RANK=" + std::to_string(rank));
        env.push_back("LOCAL_RANK=" + std::to_string(rank));
        env.push_back("WORLD_SIZE=" + std::to_string(s.nproc));
        env.push_back("MASTER_ADDR=" + s.dist.master_addr);
        env.push_back("MASTER_PORT=" + std::to_string(s.dist.master_port));
        env.push_back("DS_DIST_TIMEOUT=" + std::to_string(static_cast<int>(s.dist.timeout_s)));
        env.push_back("OMP_NUM_THREADS=" + std::to_string(s.threads));
        std::vector<char*> envp;
        for (auto& kv : env) envp.push_back(kv.data());
        envp.push_back(nullptr);

        const std::string log = (fs::path(s.log_dir) / ("rank-" + std::to_string(rank) + ".log")).string();
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw IoError("cannot write the worker log '" + log + "': " + std::strerror(errno));
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid == 0) {  // child: only async-signal-safe calls until exec
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
            ::execve(exe.c_str(), argv.data(), envp.data());
            ::_exit(127);
        }
        ::close(fd);
        if (pid < 0) throw IoError(std::string("cannot start a worker process: ") + std::strerror(errno));
        pids_.push_back(pid);
        logs_.push_back(log);
    }
}

std::vector<WorkerExit> LocalWorkers::finish(std::chrono::seconds grace) {
    std::vector<WorkerExit> out(pids_.size());
    std::vector<bool> done(pids_.size(), false);
    auto reap = [&](bool block) {
        for (size_t i = 0; i < pids_.size(); ++i) {
            if (done[i]) continue;
            int status = 0;
            const pid_t r = ::waitpid(pids_[i], &status, block ? 0 : WNOHANG);
            if (r == pids_[i] || (r < 0 && errno == ECHILD)) {
                done[i] = true;
                out[i] = {int(i) + 1, r == pids_[i] ? exit_code(status) : -1, logs_[i]};
            }
        }
        for (bool d : done)
            if (!d) return false;
        return true;
    };
    auto wait_for = [&](std::chrono::milliseconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (!reap(false)) {
            if (std::chrono::steady_clock::now() >= until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return true;
    };
    if (!wait_for(grace)) {
        for (size_t i = 0; i < pids_.size(); ++i)
            if (!done[i]) ::kill(pids_[i], SIGTERM);
        if (!wait_for(std::chrono::seconds(5))) {
            for (size_t i = 0; i < pids_.size(); ++i)
                if (!done[i]) ::kill(pids_[i], SIGKILL);
            reap(true);
        }
    }
    finished_ = true;
    return out;
}

std::string LocalWorkers::describe_failures(const std::vector<WorkerExit>& exits) {
    std::string text;
    for (const auto& e : exits) {
        if (e.code == 0) continue;
        text += (text.empty() ? "" : "; ") + std::string("worker rank ") + std::to_string(e.rank) +
                (e.code > 128 ? " was killed by signal " + std::to_string(e.code - 128)
                              : " exited with code " + std::to_string(e.code));
        const auto line = last_line(e.log);
        if (!line.empty()) text += " (" + e.log + ": " + line + ")";
    }
    return text;
}

LocalWorkers::~LocalWorkers() {
    if (!finished_) finish(std::chrono::seconds(0));
}

}  // namespace ds::train
