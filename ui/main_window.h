#pragma once
// The main window: a Studio tab (mode picker, shared sampler settings, the canvas with mask
// painter, live results with a trajectory scrubber and a history strip) and a Train tab (the
// training dashboard, on its own worker so the studio stays usable while a model trains).
#include <QImage>
#include <QList>
#include <QMainWindow>
#include <QTimer>

#include "core/engine/requests.h"
#include "ui/bridge/engine_worker.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSlider;
class QSpinBox;
class QStackedWidget;
class QTabWidget;
class QToolButton;

namespace ui {

class EngineController;
class CompareView;
class DenoisePanel;
class ImageCanvas;
class TrainDashboard;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum class Mode { Generate, Explore, Sdedit, Inpaint, Anagram, Hybrid, Denoise };

    MainWindow(EngineController* studio, EngineController* trainer, QWidget* parent = nullptr);
    ~MainWindow() override;

    void populateModels(const std::vector<ds::ModelInfo>& models);
    void setMode(Mode mode);
    Mode mode() const;
    ImageCanvas* canvas() const { return m_canvas; }
    TrainDashboard* dashboard() const { return m_dashboard; }
    // Restores the settings of a recipe (JSON of a saved result); false with a message if invalid.
    bool applyRecipe(const QString& json, QString* error = nullptr);
    bool loadRecipeFile(const QString& path);  // a saved PNG (text chunk) or its .json
    QString currentRecipe() const { return m_lastRecipe; }
    void showTab(int index);
    void addModel(const ds::ModelInfo& info);  // e.g. a checkpoint opened from the dashboard
    bool openModelFolder(const QString& dir);  // an IF folder; false (model unchanged) on errors
    CompareView* compareView() const { return m_compare; }
    // Result display: 0 = labelled figure, 1 = compare slider, 2 = side by side.
    void setResultView(int index);
    // Chooses what the compare view shows: names as listed ("input", "result 1", "view rot180").
    bool setCompare(const QString& a, const QString& b);
    QStringList compareChoices() const;
    // Writes the workspace (canvas, mask, settings, history) now if anything changed since the
    // last write; the autosave timer calls this every kAutosaveSeconds.
    bool autosave();
    static constexpr int kAutosaveSeconds = 30;

public Q_SLOTS:
    void run();
    void stop();
    void finishCurrent();
    void saveResult();
    void openImage();
    void openRecipe();
    void rerunAndCompare();
    void openIfFolder();
    void exportStrip();
    void editSettings();
    // SIGTERM / SIGHUP / SIGINT (app/gui/main.cpp): what closing does, without asking — the
    // workspace is written, training stops at the next batch with its checkpoint saved (the
    // controllers wait for it as they are destroyed), and the application quits.
    void quitSavingWork();

protected:
    void closeEvent(class QCloseEvent* event) override;

private:
    QWidget* buildControls();
    QWidget* buildCanvasPanel();
    QWidget* buildResults();
    ds::SamplerSettings samplerSettings() const;
    ds::ImageInput canvasInput() const;
    PartARequest buildRequest() const;
    const ds::ModelInfo* currentModel() const;
    void updateModelDependent();
    bool modelFitsMode(const ds::ModelInfo& model) const;  // e.g. a denoiser only in Denoise mode
    void selectModelForMode();
    void updateTimestepLabels();
    std::vector<std::int64_t> timestepList() const;  // the strided list the Steps field selects
    static constexpr int kCourseSteps = 34;
    void scheduleLive();
    void showFrame(quint64 job, const QImage& xt, const QImage& x0, int step, int total, double t);
    void showOutput(quint64 job, const ui::PartAOutput& out);
    void showScrubbed(int index);
    void setBusy(bool busy);
    void setStatus(const QString& text);
    void fillPrompt(QComboBox* box, bool allowUnconditional);
    void saveWorkspace() const;
    void restoreWorkspace();
    void exportGif();
    void showFrameViews(quint64 job, const QStringList& names, const QList<QImage>& views);
    void updateCompare();
    void markDirty() { m_dirty = true; }
    QPixmap fitted(const QImage& image, const QLabel* view) const;
    QString promptOf(const QComboBox* box) const;

    EngineController* m_studio;
    EngineController* m_trainer;
    std::vector<ds::ModelInfo> m_models;
    QTabWidget* m_tabs = nullptr;
    TrainDashboard* m_dashboard = nullptr;
    ImageCanvas* m_canvas = nullptr;

    QComboBox* m_mode = nullptr;
    QStackedWidget* m_modeOptions = nullptr;
    QComboBox* m_model = nullptr;
    QComboBox* m_prompt = nullptr;
    QComboBox* m_prompt2 = nullptr;  // anagram second view / hybrid "near"
    QLabel* m_prompt2Label = nullptr;
    QLineEdit* m_negative = nullptr;  // IF: CFG negative prompt
    QLabel* m_negativeLabel = nullptr;
    QLineEdit* m_upscaler = nullptr;  // IF: optional stage II folder for Generate
    QWidget* m_upscalerRow = nullptr;
    QDoubleSpinBox* m_guidance = nullptr;
    QSpinBox* m_seed = nullptr;
    QCheckBox* m_seedLock = nullptr;
    QSpinBox* m_count = nullptr;
    QSpinBox* m_steps = nullptr;  // length of the strided timestep list
    QSpinBox* m_eulerSteps = nullptr;  // Generate with a flow-matching model: Euler steps
    QWidget* m_eulerRow = nullptr;
    DenoisePanel* m_denoise = nullptr;
    QSlider* m_iStart = nullptr;
    QLabel* m_iStartLabel = nullptr;
    QCheckBox* m_live = nullptr;
    QCheckBox* m_strip = nullptr;
    QSlider* m_tSlider = nullptr;
    QLabel* m_tLabel = nullptr;
    QSpinBox* m_grow = nullptr;
    QDoubleSpinBox* m_feather = nullptr;
    QComboBox* m_view = nullptr;
    QSpinBox* m_kernel = nullptr;
    QDoubleSpinBox* m_sigma = nullptr;
    QSlider* m_distance = nullptr;
    QPushButton* m_runButton = nullptr;
    QPushButton* m_stopButton = nullptr;
    QPushButton* m_finishButton = nullptr;
    QProgressBar* m_progress = nullptr;

    QLabel* m_xt = nullptr;
    QLabel* m_x0 = nullptr;
    QLabel* m_figure = nullptr;
    QLabel* m_viewLive = nullptr;  // anagram: x0 estimate through the second view, live
    QWidget* m_viewBox = nullptr;   // m_viewLive with its caption
    QLabel* m_viewCaption = nullptr;
    QLabel* m_xtCaption = nullptr;
    CompareView* m_compare = nullptr;
    QStackedWidget* m_resultStack = nullptr;
    QComboBox* m_resultView = nullptr;
    QComboBox* m_compareA = nullptr;
    QComboBox* m_compareB = nullptr;
    QWidget* m_compareRow = nullptr;
    QToolButton* m_inkButton = nullptr;
    QToolButton* m_overlayButton = nullptr;
    QSlider* m_scrubber = nullptr;
    QCheckBox* m_scrubX0 = nullptr;
    QListWidget* m_history = nullptr;
    QLabel* m_status = nullptr;

    QTimer m_liveTimer;
    QTimer m_autosaveTimer;
    bool m_dirty = false;
    PartAOutput m_last;
    QImage m_lastFigure;
    QString m_lastRecipe;
    QImage m_compareWith;  // set by rerunAndCompare: the figure the next result is compared with
    quint64 m_job = 0;
};

}  // namespace ui
