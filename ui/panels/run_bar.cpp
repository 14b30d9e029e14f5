#include "ui/panels/run_bar.h"

#include <QHBoxLayout>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

namespace ui {

RunBar::RunBar(QWidget* parent) : QWidget(parent) {
    auto* col = new QVBoxLayout(this);
    col->setContentsMargins(0, 0, 0, 0);
    m_run = new QPushButton(tr("Run  (Ctrl+Enter)"), this);
    m_run->setObjectName(QStringLiteral("run"));
    m_stop = new QPushButton(tr("Stop  (Esc)"), this);
    m_stop->setObjectName(QStringLiteral("stop"));
    m_stop->setEnabled(false);
    m_stop->setToolTip(tr("Stop now: the run ends at the next step"));
    m_finish = new QPushButton(tr("Finish current"), this);
    m_finish->setEnabled(false);
    m_finish->setToolTip(tr("Let the running image finish, then stop: an SDEdit strip keeps the "
                            "i_start values done so far"));
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("progress"));
    m_progress->setValue(0);
    col->addWidget(m_run);
    auto* stopRow = new QHBoxLayout;
    stopRow->addWidget(m_stop, 1);
    stopRow->addWidget(m_finish, 1);
    col->addLayout(stopRow);
    col->addWidget(m_progress);
    connect(m_run, &QPushButton::clicked, this, &RunBar::runClicked);
    connect(m_stop, &QPushButton::clicked, this, &RunBar::stopClicked);
    connect(m_finish, &QPushButton::clicked, this, &RunBar::finishClicked);
}

void RunBar::setBusy(bool busy) {
    m_stop->setEnabled(busy);
    m_finish->setEnabled(busy);
    if (busy) {  // a new run: not the last one's "done in" until its first step or load reports
        m_progress->setValue(0);
        m_progress->setFormat(tr("starting…"));
    }
}

void RunBar::markDone(double seconds) {
    m_progress->setValue(m_progress->maximum());  // full, no ETA
    m_progress->setFormat(tr("done in %1 s").arg(seconds, 0, 'f', 2));
}

void RunBar::setProgress(qint64 step, qint64 total, double eta, const QString& phase) {
    m_progress->setMaximum(int(total));
    m_progress->setValue(int(step));
    if (phase.startsWith(QStringLiteral("loading"))) {  // "loading the IF stage I UNet (8.0 GB): 45 %"
        m_progress->setFormat(eta >= 0 ? tr("%1: %p %  ETA %2 s").arg(phase).arg(eta, 0, 'f', 0)
                                       : tr("%1: %p %").arg(phase));
        return;
    }
    m_progress->setFormat(eta >= 0 ? tr("%v / %m  ETA %1 s").arg(eta, 0, 'f', 1) : tr("%v / %m"));
}

void RunBar::markStopped() {
    m_progress->setFormat(tr("stopped at %v / %m"));
}

void RunBar::markFailed() {
    m_progress->setFormat(tr("failed at %v / %m"));
}

}  // namespace ui
