#pragma once
// The engine on a worker thread (Qt worker-object pattern): requests arrive by value through
// queued slots, frames leave as deep-copied QImages, exceptions become failed() signals.
#include <QImage>
#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "core/engine/engine.h"

Q_DECLARE_METATYPE(ds::SampleRequest)
Q_DECLARE_METATYPE(ds::TrainRequest)

namespace ui {

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(ds::EngineOptions options);
    ~EngineWorker() override;
    // Called from the GUI thread when a frame has been painted, so the next may be sent.
    void frameConsumed() { m_frameInFlight.store(false); }

public Q_SLOTS:
    void runSample(ds::SampleRequest request);
    void runTrain(ds::TrainRequest request);

Q_SIGNALS:
    void frameReady(QImage xt, QImage x0, int step, int total);
    void progress(int step, int total, double loss, double itemsPerSec, double etaSeconds);
    void sampleFinished(QImage grid, double seconds);
    void trainFinished(int epochs, QString checkpoint);
    void cancelled();
    void failed(QString message);
    void logMessage(QString message);

private:
    ds::Engine& engine();
    ds::EngineOptions m_options;
    std::unique_ptr<ds::Engine> m_engine;  // created on the worker thread on first use
    std::atomic<bool> m_frameInFlight{false};
};

}  // namespace ui
