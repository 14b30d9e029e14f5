#pragma once
// The engine on a worker thread (Qt worker-object pattern): requests arrive by value through
// queued slots, frames leave as deep-copied QImages (at most one in flight), exceptions become
// failed() signals. Every job carries the id the controller gave it, so the GUI can ignore
// signals of jobs a newer one superseded.
#include <QImage>
#include <QList>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>
#include <atomic>
#include <memory>
#include <variant>

#include "core/engine/engine.h"

namespace ui {

// One Part A request of any technique.
using PartARequest = std::variant<ds::NoiseExplorerRequest, ds::IterateRequest, ds::SdeditRequest,
                                  ds::InpaintRequest, ds::AnagramRequest, ds::HybridRequest,
                                  ds::IfGenerateRequest, ds::DenoiseRequest>;

// A finished Part A job, converted for the GUI thread.
struct PartAOutput {
    QImage figure;
    QList<QImage> images;
    QList<QPair<QString, QImage>> panels;
    QList<QImage> trajectoryXt;  // every frame of the run, for the scrubber
    QList<QImage> trajectoryX0;
    QList<double> trajectoryT;   // timestep each frame is at (-1 = clean; flow matching: t in [0, 1])
    QList<QImage> trajectoryView;  // anagrams: x0 through the last view, per frame
    QString viewName;              // e.g. "view rot180"
    QString recipe;              // JSON
    QStringList notes;
    double seconds = 0;
};

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(ds::EngineOptions options);
    ~EngineWorker() override;
    // Called from the GUI thread when a frame has been painted, so the next may be sent.
    void frameConsumed() { m_frameInFlight.store(false); }

public Q_SLOTS:
    void runTrain(quint64 job, ds::TrainRequest request);
    void runPartA(quint64 job, ui::PartARequest request);

Q_SIGNALS:
    void started(quint64 job);
    void frameReady(quint64 job, QImage xt, QImage x0, int step, int total, double t);
    // Anagram runs: the x0 estimate through each view; sent just before its frameReady.
    void frameViews(quint64 job, QStringList names, QList<QImage> views);
    void progress(quint64 job, ds::ProgressEvent event);
    void partAFinished(quint64 job, ui::PartAOutput output);
    void trainFinished(quint64 job, int epochs, QString checkpoint);
    void cancelled(quint64 job);
    void failed(quint64 job, QString message);
    void logMessage(quint64 job, QString message);

private:
    ds::Engine& engine();
    template <typename Fn>
    void guarded(quint64 job, Fn&& fn);
    ds::EngineOptions m_options;
    std::unique_ptr<ds::Engine> m_engine;  // created on the worker thread on first use
    std::atomic<bool> m_frameInFlight{false};
};

}  // namespace ui

Q_DECLARE_METATYPE(ds::TrainRequest)
Q_DECLARE_METATYPE(ds::ProgressEvent)
Q_DECLARE_METATYPE(ui::PartARequest)
Q_DECLARE_METATYPE(ui::PartAOutput)
