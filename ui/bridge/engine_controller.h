#pragma once
// Owns the worker thread. Lives on the GUI thread; cancels by setting the request's atomic
// token directly (a queued cancel slot would only run after the job ends).
#include <QObject>
#include <QThread>

#include "ui/bridge/engine_worker.h"

namespace ui {

class EngineController : public QObject {
    Q_OBJECT
public:
    explicit EngineController(ds::EngineOptions options, QObject* parent = nullptr);
    ~EngineController() override;

    void sample(ds::SampleRequest request);
    void train(ds::TrainRequest request);
    void cancel(ds::CancelMode mode = ds::CancelMode::Now);
    bool busy() const { return m_busy; }
    EngineWorker* worker() const { return m_worker; }

Q_SIGNALS:
    void busyChanged(bool busy);

Q_SIGNALS:  // forwarded to the worker's queued slots
    void sampleRequested(ds::SampleRequest request);
    void trainRequested(ds::TrainRequest request);

private:
    void setBusy(bool busy);
    QThread m_thread;
    EngineWorker* m_worker = nullptr;
    ds::CancelToken m_cancel;
    bool m_busy = false;
};

}  // namespace ui
