#include "ui/bridge/engine_worker.h"

#include "ui/bridge/image_convert.h"

namespace ui {

EngineWorker::EngineWorker(ds::EngineOptions options) : m_options(std::move(options)) {}
EngineWorker::~EngineWorker() = default;

ds::Engine& EngineWorker::engine() {
    if (!m_engine) m_engine = std::make_unique<ds::Engine>(m_options);
    return *m_engine;
}

void EngineWorker::runSample(ds::SampleRequest request) {
    try {
        request.callbacks.on_frame = [this](const ds::FrameEvent& e) {
            Q_EMIT progress(e.step, e.total, 0, 0, -1);
            // At most one frame in flight: drop this one if the GUI has not painted the last.
            if (e.step != e.total && m_frameInFlight.exchange(true)) return;
            m_frameInFlight.store(true);
            Q_EMIT frameReady(toQImage(e.x_t), toQImage(e.x0_hat), e.step, e.total);
        };
        auto result = engine().sample(request);
        if (result.outcome == ds::Outcome::Cancelled) {
            Q_EMIT cancelled();
            return;
        }
        Q_EMIT sampleFinished(toQImage(result.grid), result.seconds);
    } catch (const std::exception& e) {
        Q_EMIT failed(QString::fromStdString(e.what()));
    } catch (...) {
        Q_EMIT failed(QStringLiteral("unknown error"));
    }
}

void EngineWorker::runTrain(ds::TrainRequest request) {
    try {
        request.callbacks.on_progress = [this](const ds::ProgressEvent& e) {
            Q_EMIT progress(int(e.step), int(e.total), e.loss, e.items_per_sec, e.eta_seconds);
        };
        request.callbacks.on_log = [this](ds::LogLevel, const std::string& m) {
            Q_EMIT logMessage(QString::fromStdString(m));
        };
        auto result = engine().train(request);
        if (result.outcome == ds::Outcome::Cancelled) {
            Q_EMIT cancelled();
            return;
        }
        Q_EMIT trainFinished(result.epochs_done, QString::fromStdString(result.checkpoint));
    } catch (const std::exception& e) {
        Q_EMIT failed(QString::fromStdString(e.what()));
    } catch (...) {
        Q_EMIT failed(QStringLiteral("unknown error"));
    }
}

}  // namespace ui
