#pragma once
// Owns one worker thread. Lives on the GUI thread; cancels by setting the request's atomic token
// directly (a queued cancel slot would only run after the job ends). Each submitted job gets an
// id; with `supersede` every earlier unfinished job is cancelled first, so the latest request
// wins (live sliders).
#include <QHash>
#include <QObject>
#include <QThread>

#include "ui/bridge/engine_worker.h"

namespace ui {

class EngineController : public QObject {
    Q_OBJECT
public:
    explicit EngineController(ds::EngineOptions options, QObject* parent = nullptr);
    ~EngineController() override;

    quint64 train(ds::TrainRequest request);
    quint64 runPartA(PartARequest request, bool supersede = true);
    // Cancels every unfinished job (Now) or asks training to finish its epoch (AfterCurrent).
    void cancel(ds::CancelMode mode = ds::CancelMode::Now);
    bool busy() const { return !m_pending.isEmpty(); }
    quint64 latestJob() const { return m_nextId - 1; }
    int pendingJobs() const { return int(m_pending.size()); }
    EngineWorker* worker() const { return m_worker; }

Q_SIGNALS:
    void busyChanged(bool busy);

Q_SIGNALS:  // forwarded to the worker's queued slots
    void trainRequested(quint64 job, ds::TrainRequest request);
    void partARequested(quint64 job, ui::PartARequest request);

private:
    quint64 admit(const ds::CancelToken& token, bool supersede);
    void finish(quint64 job);
    QThread m_thread;
    EngineWorker* m_worker = nullptr;
    QHash<quint64, ds::CancelToken> m_pending;  // unfinished jobs and their tokens
    quint64 m_nextId = 1;
};

}  // namespace ui
