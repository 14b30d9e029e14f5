#pragma once
// Run, Stop, Finish current and the progress bar with its ETA. The bar is full only when a result
// arrives; after a stop it keeps the step reached ("stopped at 12 / 34"), never a stale ETA.
#include <QWidget>

class QProgressBar;
class QPushButton;

namespace ui {

class RunBar : public QWidget {
    Q_OBJECT
public:
    explicit RunBar(QWidget* parent = nullptr);
    void setBusy(bool busy);
    // `phase` "loading ..." (a model loading: step = percent) is shown as such.
    void setProgress(qint64 step, qint64 total, double etaSeconds, const QString& phase = {});
    void markDone(double seconds);  // a result arrived: a full bar
    void markStopped();  // the job was cancelled: the bar says where it stopped
    void markFailed();
    QProgressBar* bar() const { return m_progress; }

Q_SIGNALS:
    void runClicked();
    void stopClicked();
    void finishClicked();

private:
    QPushButton* m_run = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_finish = nullptr;
    QProgressBar* m_progress = nullptr;
};

}  // namespace ui
