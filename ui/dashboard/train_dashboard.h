#pragma once
// The training dashboard: launch any Part B model with the course defaults (editable), watch the
// loss (raw + smoothed, optional log scale), lr, img/s and ETA live, browse the fixed-noise sample
// grid of every finished epoch, stop after the epoch (checkpoint saved) or resume, and open the
// checkpoint in the studio. Runs on its own worker thread (a second EngineController).
#include <QList>
#include <QPointF>
#include <QTimer>
#include <QWidget>

#include "core/engine/requests.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSlider;
class QSpinBox;
class QStackedWidget;

namespace ui {

class CompareView;
class EngineController;
class LossChart;

class TrainDashboard : public QWidget {
    Q_OBJECT
public:
    explicit TrainDashboard(EngineController* controller, QWidget* parent = nullptr);

    // The request the form describes (course defaults where a field says "default").
    ds::TrainRequest request() const;
    void setOutputFolder(const QString& dir);
    QString outputFolder() const;
    int lossPoints() const;

public Q_SLOTS:
    void start();
    void stopAfterEpoch();
    void stopNow();
    void openCheckpoint();

Q_SIGNALS:
    void openModelRequested(const ds::ModelInfo& info);

private:
    void onProgress(quint64 job, const ds::ProgressEvent& e);
    void refreshEpochs();
    void loadMetrics();
    void loadChart();  // the run folder's metrics.jsonl
    void showEpoch(int index);
    void setRunning(bool running);

    EngineController* m_controller;
    quint64 m_job = 0;
    QComboBox* m_kind = nullptr;
    QComboBox* m_dataset = nullptr;
    QSpinBox* m_epochs = nullptr;
    QSpinBox* m_batch = nullptr;
    QDoubleSpinBox* m_lr = nullptr;
    QDoubleSpinBox* m_ema = nullptr;
    QComboBox* m_precision = nullptr;
    QDoubleSpinBox* m_sigma = nullptr;     // denoiser noise level
    QCheckBox* m_pureNoise = nullptr;      // denoiser trained on pure noise
    QComboBox* m_lrDecay = nullptr;        // course default / on / off
    QDoubleSpinBox* m_pUncond = nullptr;   // class dropout for CFG
    QCheckBox* m_grids = nullptr;          // per-epoch sample grids
    void updateObjectiveRows();
    QSpinBox* m_hidden = nullptr;
    QSpinBox* m_seed = nullptr;
    QSpinBox* m_workers = nullptr;  // data-parallel ranks (TrainRequest::nproc)
    QSpinBox* m_limit = nullptr;
    QLineEdit* m_out = nullptr;
    QCheckBox* m_resume = nullptr;
    QCheckBox* m_logScale = nullptr;
    QPushButton* m_start = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_stopNow = nullptr;
    QPushButton* m_open = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_stats = nullptr;
    QLabel* m_log = nullptr;
    QLabel* m_grid = nullptr;
    QStackedWidget* m_gridStack = nullptr;  // the grid label, or the epoch comparison
    CompareView* m_compare = nullptr;
    QComboBox* m_compareEpoch = nullptr;           // "off", then every epoch's grid
    QSlider* m_epochSlider = nullptr;
    QLabel* m_epochLabel = nullptr;
    LossChart* m_chart = nullptr;
    QStringList m_epochFiles;
    int m_lastEpoch = 0;
    QString m_statsText;  // the last progress line, before "(finished)" / "(stopped)" / "(failed)"
};

}  // namespace ui
