#include "ui/bridge/engine_controller.h"

namespace ui {

EngineController::EngineController(ds::EngineOptions options, QObject* parent) : QObject(parent) {
    qRegisterMetaType<ds::SampleRequest>();
    qRegisterMetaType<ds::TrainRequest>();
    m_worker = new EngineWorker(std::move(options));
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &EngineController::sampleRequested, m_worker, &EngineWorker::runSample);
    connect(this, &EngineController::trainRequested, m_worker, &EngineWorker::runTrain);
    for (auto sig : {&EngineWorker::cancelled}) connect(m_worker, sig, this, [this] { setBusy(false); });
    connect(m_worker, &EngineWorker::failed, this, [this] { setBusy(false); });
    connect(m_worker, &EngineWorker::sampleFinished, this, [this] { setBusy(false); });
    connect(m_worker, &EngineWorker::trainFinished, this, [this] { setBusy(false); });
    m_thread.setObjectName(QStringLiteral("engine-worker"));
    m_thread.start();
}

EngineController::~EngineController() {
    m_cancel.request(ds::CancelMode::Now);
    m_thread.quit();
    m_thread.wait();
}

void EngineController::sample(ds::SampleRequest request) {
    m_cancel = ds::CancelToken();
    request.cancel = m_cancel;
    setBusy(true);
    Q_EMIT sampleRequested(std::move(request));
}

void EngineController::train(ds::TrainRequest request) {
    m_cancel = ds::CancelToken();
    request.cancel = m_cancel;
    setBusy(true);
    Q_EMIT trainRequested(std::move(request));
}

void EngineController::cancel(ds::CancelMode mode) { m_cancel.request(mode); }

void EngineController::setBusy(bool busy) {
    if (m_busy == busy) return;
    m_busy = busy;
    Q_EMIT busyChanged(busy);
}

}  // namespace ui
