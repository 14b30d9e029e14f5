#include "ui/bridge/engine_worker.h"

#include "ui/bridge/image_convert.h"

#include <cstdlib>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ui {

namespace {

// The engine computes at a lower priority than the GUI: this worker thread and the OpenMP team it
// starts (created by it, so inheriting its nice value) run at nice +5 (DS_WORKER_NICE, 0 = off).
// On a machine with as many cores as compute threads the GUI thread then gets a core as soon as
// it wakes instead of waiting for a time slice, and while it sleeps the engine has every core.
void lowerComputePriority() {
#ifdef __linux__
    int nice = 5;
    if (const char* env = std::getenv("DS_WORKER_NICE"); env && *env) nice = std::atoi(env);
    if (nice <= 0) return;
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice > 19 ? 19 : nice);  // best effort
#endif
}

ds::PartAResult call(ds::Engine& e, const ds::NoiseExplorerRequest& r) { return e.explore_noise(r); }
ds::PartAResult call(ds::Engine& e, const ds::IterateRequest& r) { return e.iterate(r); }
ds::PartAResult call(ds::Engine& e, const ds::SdeditRequest& r) { return e.sdedit(r); }
ds::PartAResult call(ds::Engine& e, const ds::InpaintRequest& r) { return e.inpaint(r); }
ds::PartAResult call(ds::Engine& e, const ds::AnagramRequest& r) { return e.anagram(r); }
ds::PartAResult call(ds::Engine& e, const ds::HybridRequest& r) { return e.hybrid(r); }
ds::PartAResult call(ds::Engine& e, const ds::IfGenerateRequest& r) { return e.if_generate(r); }
ds::PartAResult call(ds::Engine& e, const ds::DenoiseRequest& r) { return e.denoise(r); }
}  // namespace

EngineWorker::EngineWorker(ds::EngineOptions options) : m_options(std::move(options)) {}
EngineWorker::~EngineWorker() = default;

ds::Engine& EngineWorker::engine() {
    if (!m_engine) {
        lowerComputePriority();  // on the worker thread, before the engine starts any threads
        m_engine = std::make_unique<ds::Engine>(m_options);
    }
    return *m_engine;
}

template <typename Fn>
void EngineWorker::guarded(quint64 job, Fn&& fn) {
    Q_EMIT started(job);
    try {
        fn();
    } catch (const std::exception& e) {
        Q_EMIT failed(job, QString::fromUtf8(e.what()));
    } catch (...) {
        Q_EMIT failed(job, QStringLiteral("unknown error"));
    }
}

void EngineWorker::runPartA(quint64 job, PartARequest request) {
    guarded(job, [&] {
        PartAOutput out;
        std::visit(
            [&](auto& r) {
                r.callbacks.on_progress = [this, job](const ds::ProgressEvent& e) { Q_EMIT progress(job, e); };
                r.callbacks.on_frame = [this, job, &out](const ds::FrameEvent& e) {
                    QImage xt = toQImage(e.x_t), x0 = toQImage(e.x0_hat);
                    out.trajectoryXt.append(xt);
                    out.trajectoryX0.append(x0);
                    out.trajectoryT.append(e.t);
                    if (!e.views.empty()) {
                        out.trajectoryView.append(toQImage(e.views.back().second));
                        out.viewName = QString::fromStdString(e.views.back().first);
                    }
                    if (e.step != e.total && m_frameInFlight.exchange(true)) return;
                    m_frameInFlight.store(true);
                    if (!e.views.empty()) {
                        QStringList names;
                        QList<QImage> views;
                        for (const auto& [name, img] : e.views) {
                            names << QString::fromStdString(name);
                            views << toQImage(img);
                        }
                        Q_EMIT frameViews(job, names, views);
                    }
                    Q_EMIT frameReady(job, xt, x0, e.step, e.total, e.t);
                };
                auto res = call(engine(), r);
                if (res.outcome == ds::Outcome::Cancelled) {
                    out.seconds = -1;
                    return;
                }
                out.figure = toQImage(res.figure);
                for (const auto& img : res.images) out.images.append(toQImage(img));
                for (const auto& [name, img] : res.panels)
                    out.panels.append({QString::fromStdString(name), toQImage(img)});
                out.recipe = QString::fromStdString(res.recipe_json);
                for (const auto& n : res.notes) out.notes.append(QString::fromStdString(n));
                out.seconds = res.seconds;
            },
            request);
        if (out.seconds < 0) return Q_EMIT cancelled(job);
        Q_EMIT partAFinished(job, out);
    });
}

void EngineWorker::runTrain(quint64 job, ds::TrainRequest request) {
    guarded(job, [&] {
        request.callbacks.on_progress = [this, job](const ds::ProgressEvent& e) { Q_EMIT progress(job, e); };
        request.callbacks.on_log = [this, job](ds::LogLevel, const std::string& m) {
            Q_EMIT logMessage(job, QString::fromStdString(m));
        };
        auto result = engine().train(request);
        if (result.outcome == ds::Outcome::Cancelled) {
            Q_EMIT logMessage(job, QStringLiteral("stopped; checkpoint saved to %1")
                                       .arg(QString::fromStdString(result.checkpoint)));
            return Q_EMIT cancelled(job);
        }
        Q_EMIT trainFinished(job, result.epochs_done, QString::fromStdString(result.checkpoint));
    });
}

}  // namespace ui
