#include "ui/bridge/engine_controller.h"

namespace ui {

EngineController::EngineController(ds::EngineOptions options, QObject* parent) : QObject(parent) {
    qRegisterMetaType<ds::TrainRequest>();
    qRegisterMetaType<ds::ProgressEvent>();
    qRegisterMetaType<ui::PartARequest>();
    qRegisterMetaType<ui::PartAOutput>();
    m_worker = new EngineWorker(std::move(options));
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &EngineController::trainRequested, m_worker, &EngineWorker::runTrain);
    connect(this, &EngineController::partARequested, m_worker, &EngineWorker::runPartA);
    connect(m_worker, &EngineWorker::cancelled, this, &EngineController::finish);
    connect(m_worker, &EngineWorker::failed, this, [this](quint64 job) { finish(job); });
    connect(m_worker, &EngineWorker::partAFinished, this, [this](quint64 job) { finish(job); });
    connect(m_worker, &EngineWorker::trainFinished, this, [this](quint64 job) { finish(job); });
    m_thread.setObjectName(QStringLiteral("engine-worker"));
    m_thread.start();
}

EngineController::~EngineController() {
    for (const auto& token : m_pending) token.request(ds::CancelMode::Now);
    m_thread.quit();
    m_thread.wait();
}

quint64 EngineController::admit(const ds::CancelToken& token, bool supersede) {
    if (supersede)
        for (const auto& t : m_pending) t.request(ds::CancelMode::Now);
    const quint64 id = m_nextId++;
    const bool wasBusy = busy();
    m_pending.insert(id, token);
    if (!wasBusy) Q_EMIT busyChanged(true);
    return id;
}

void EngineController::finish(quint64 job) {
    if (!m_pending.remove(job)) return;
    if (!busy()) Q_EMIT busyChanged(false);
}

quint64 EngineController::train(ds::TrainRequest request) {
    request.cancel = ds::CancelToken();
    const quint64 id = admit(request.cancel, false);
    Q_EMIT trainRequested(id, std::move(request));
    return id;
}

quint64 EngineController::runPartA(PartARequest request, bool supersede) {
    ds::CancelToken token;
    std::visit([&](auto& r) { r.cancel = token; }, request);
    const quint64 id = admit(token, supersede);
    Q_EMIT partARequested(id, std::move(request));
    return id;
}

void EngineController::cancel(ds::CancelMode mode) {
    for (const auto& t : m_pending) t.request(mode);
}

}  // namespace ui
