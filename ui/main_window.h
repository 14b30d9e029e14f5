#pragma once
// The main window assembles the Studio tab — shared settings (ui/panels/settings_panel), one
// options panel per mode (ui/panels/*_panel), the run bar, the canvas (ui/canvas/canvas_panel),
// the results (ui/results/results_panel) and the history strip — and the Train tab (the
// training dashboard, on its own worker so the studio stays usable while a model trains). It
// routes engine signals to the panels, runs live modes (debounced, newer cancels older) and keeps
// the workspace (ui/workspace).
#include <QImage>
#include <QList>
#include <QMainWindow>
#include <QTimer>

#include "core/engine/requests.h"
#include "ui/bridge/engine_worker.h"
#include "ui/panels/mode_panel.h"

class QLabel;
class QStackedWidget;
class QTabWidget;

namespace ui {

class CanvasPanel;
class CompareView;
class EngineController;
class HistoryStrip;
class ImageCanvas;
class ResultsPanel;
class RunBar;
class SettingsPanel;
class TrainDashboard;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    using Mode = ui::Mode;

    MainWindow(EngineController* studio, EngineController* trainer, QWidget* parent = nullptr);
    ~MainWindow() override;

    // The bundled models; the first call also restores the last session's models and fields.
    void populateModels(const std::vector<ds::ModelInfo>& models);
    void setMode(Mode mode);
    Mode mode() const;
    ImageCanvas* canvas() const;
    TrainDashboard* dashboard() const { return m_dashboard; }
    ModePanel* panel(Mode mode) const { return m_panels.value(int(mode)); }
    // Restores the settings of a recipe (JSON of a saved result); false with a message if invalid.
    // Fields it cannot restore (a model no longer there, a prompt the model lacks) are named in
    // the status bar and in `unrestored`.
    bool applyRecipe(const QString& json, QString* error = nullptr, QStringList* unrestored = nullptr);
    bool loadRecipeFile(const QString& path);  // a saved PNG (text chunk) or its .json
    QString currentRecipe() const;
    void showTab(int index);
    void addModel(const ds::ModelInfo& info);  // e.g. a checkpoint opened from the dashboard
    bool openModelFolder(const QString& dir);  // an IF folder or run; false (model unchanged) on errors
    CompareView* compareView() const;
    void setResultView(int index);  // 0 = labelled figure, 1 = compare slider, 2 = side by side
    bool setCompare(const QString& a, const QString& b);
    QStringList compareChoices() const;
    // Writes the workspace now if anything changed since the last write; the autosave timer
    // calls this every kAutosaveSeconds.
    bool autosave();
    static constexpr int kAutosaveSeconds = 30;
    static constexpr int kLiveDebounceMs = 120;  // slider drags: changes within this window coalesce

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
    void exportGif();
    void editSettings();
    // SIGTERM / SIGHUP / SIGINT (app/gui/main.cpp): what closing does, without asking — the
    // workspace is written, training stops at the next batch with its checkpoint saved (the
    // controllers wait for it as they are destroyed), and the application quits.
    void quitSavingWork();

protected:
    void closeEvent(class QCloseEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;  // slider releases end the debounce

private:
    QWidget* buildStudio();
    void buildMenu();
    void connectEngine();
    ModePanel* currentPanel() const;
    void modeChanged();
    void modelChanged();
    void liveChange(bool canvasChange);
    bool openModel(const QString& path, QString* why);
    void showOutput(quint64 job, const ui::PartAOutput& out);
    void setStatus(const QString& text);
    void saveWorkspace();

    EngineController* m_studio;
    EngineController* m_trainer;
    QTabWidget* m_tabs = nullptr;
    TrainDashboard* m_dashboard = nullptr;
    SettingsPanel* m_settings = nullptr;
    QStackedWidget* m_modeStack = nullptr;
    QList<ModePanel*> m_panels;  // indexed by Mode
    RunBar* m_runBar = nullptr;
    CanvasPanel* m_canvasPanel = nullptr;
    ResultsPanel* m_results = nullptr;
    HistoryStrip* m_history = nullptr;
    QLabel* m_status = nullptr;
    QTimer m_liveTimer;
    QTimer m_autosaveTimer;
    bool m_dirty = false;
    bool m_restored = false;  // the last session's settings were applied (first populateModels)
    QImage m_compareWith;     // set by rerunAndCompare: the figure the next result is compared with
    quint64 m_job = 0;
};

}  // namespace ui
