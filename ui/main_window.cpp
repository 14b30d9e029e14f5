#include "ui/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QShortcut>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "core/engine/engine.h"
#include "ui/bridge/engine_controller.h"
#include "ui/bridge/image_convert.h"
#include "ui/canvas/canvas_panel.h"
#include "ui/canvas/image_canvas.h"
#include "ui/dashboard/train_dashboard.h"
#include "ui/panels/hybrid_panel.h"
#include "ui/panels/mode_panels.h"
#include "ui/panels/run_bar.h"
#include "ui/panels/settings_panel.h"
#include "ui/results/history_strip.h"
#include "ui/results/results_panel.h"
#include "ui/settings_dialog.h"
#include "ui/recipe_restore.h"
#include "ui/workspace.h"

namespace ui {

namespace {
constexpr int kControlsWidth = 360;  // fixed, so the canvas does not move between modes
}  // namespace

MainWindow::MainWindow(EngineController* studio, EngineController* trainer, QWidget* parent)
    : QMainWindow(parent), m_studio(studio), m_trainer(trainer) {
    setWindowTitle(QStringLiteral("Diffusion Studio"));
    m_tabs = new QTabWidget(this);
    m_tabs->addTab(buildStudio(), tr("Studio"));
    m_dashboard = new TrainDashboard(trainer, m_tabs);
    m_tabs->addTab(m_dashboard, tr("Train"));
    setCentralWidget(m_tabs);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("status"));
    statusBar()->addWidget(m_status, 1);
    buildMenu();
    m_liveTimer.setSingleShot(true);
    connect(&m_liveTimer, &QTimer::timeout, this, &MainWindow::run);
    qApp->installEventFilter(this);
    connectEngine();
    const QStringList lost = Workspace::restoreFiles({m_settings, m_panels, canvas(), m_history, m_dashboard});
    if (!lost.isEmpty()) setStatus(tr("Not restored: %1").arg(lost.join(QStringLiteral("; "))));
    // Periodic autosave: a crash or power loss costs at most kAutosaveSeconds of work.
    m_autosaveTimer.setInterval(kAutosaveSeconds * 1000);
    connect(&m_autosaveTimer, &QTimer::timeout, this, &MainWindow::autosave);
    m_autosaveTimer.start();
    modeChanged();
    m_dirty = false;
}

MainWindow::~MainWindow() = default;

QWidget* MainWindow::buildStudio() {
    auto* tab = new QWidget(m_tabs);
    auto* row = new QHBoxLayout(tab);
    auto* split = new QSplitter(Qt::Horizontal, tab);
    // Left: shared settings, the mode's options, the run bar.
    auto* left = new QWidget(split);
    left->setFixedWidth(kControlsWidth);
    auto* col = new QVBoxLayout(left);
    m_settings = new SettingsPanel(left);
    m_modeStack = new QStackedWidget(left);
    m_panels = makeModePanels(left);
    for (auto* p : m_panels) {
        m_modeStack->addWidget(p);
        connect(p, &ModePanel::changed, this, [this, p] {
            m_dirty = true;
            if (p == currentPanel()) liveChange(false);
        });
    }
    auto* options = new QLabel(tr("<b>Options</b>"), left);
    m_runBar = new RunBar(left);
    col->addWidget(m_settings);
    col->addSpacing(8);
    col->addWidget(options);
    col->addWidget(m_modeStack);
    col->addStretch(1);
    col->addWidget(m_runBar);
    // Centre: the canvas (hidden in modes that do not read it); right: results and history.
    m_canvasPanel = new CanvasPanel(split);
    auto* right = new QWidget(split);
    auto* rcol = new QVBoxLayout(right);
    rcol->setContentsMargins(0, 0, 0, 0);
    m_results = new ResultsPanel(right);
    m_history = new HistoryStrip(right);
    rcol->addWidget(m_results, 1);
    rcol->addWidget(new QLabel(tr("History (click to show, double-click to restore its settings)"), right));
    rcol->addWidget(m_history);
    split->addWidget(left);
    split->addWidget(m_canvasPanel);
    split->addWidget(right);
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 1);
    row->addWidget(split);

    connect(m_settings, &SettingsPanel::modeChanged, this, &MainWindow::modeChanged);
    connect(m_settings, &SettingsPanel::modelChanged, this, &MainWindow::modelChanged);
    connect(m_settings, &SettingsPanel::changed, this, [this] {
        m_dirty = true;
        liveChange(false);
    });
    connect(canvas(), &ImageCanvas::edited, this, [this] {
        m_dirty = true;
        liveChange(true);
    });
    connect(m_canvasPanel, &CanvasPanel::notice, this, &MainWindow::setStatus);
    connect(static_cast<HybridPanel*>(m_panels[int(Mode::Hybrid)]), &HybridPanel::viewingDistanceChanged, m_results,
            &ResultsPanel::setViewingDistance);
    connect(m_runBar, &RunBar::runClicked, this, &MainWindow::run);
    connect(m_runBar, &RunBar::stopClicked, this, &MainWindow::stop);
    connect(m_runBar, &RunBar::finishClicked, this, &MainWindow::finishCurrent);
    connect(m_results, &ResultsPanel::status, this, &MainWindow::setStatus);
    connect(m_results, &ResultsPanel::rerunRequested, this, &MainWindow::rerunAndCompare);
    connect(m_history, &HistoryStrip::shown, m_results, &ResultsPanel::showFigure);
    connect(m_history, &HistoryStrip::restoreRequested, this, [this](const QString& r) { applyRecipe(r); });
    // A dropped saved result (a PNG with a recipe, or its JSON) restores its settings.
    m_canvasPanel->setRecipeDropHandler([this](const QString& path) { loadRecipeFile(path); });
    return tab;
}

void MainWindow::buildMenu() {
    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("Open image…"), QKeySequence::Open, this, &MainWindow::openImage);
    file->addAction(tr("Open recipe (PNG or JSON)…"), this, &MainWindow::openRecipe);
    file->addAction(tr("Open IF weights folder…"), this, &MainWindow::openIfFolder);
    file->addAction(tr("Save result…"), QKeySequence::Save, this, &MainWindow::saveResult);
    file->addAction(tr("Export trajectory (GIF / MP4)…"), this, &MainWindow::exportGif);
    file->addAction(tr("Export trajectory strip (PNG)…"), this, &MainWindow::exportStrip);
    file->addSeparator();
    file->addAction(tr("Settings…"), this, &MainWindow::editSettings);
    file->addAction(tr("Quit"), QKeySequence::Quit, this, &QWidget::close);
    new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this, [this] { run(); });
    new QShortcut(QKeySequence(Qt::Key_Escape), this, [this] { stop(); });
}

void MainWindow::connectEngine() {
    auto* w = m_studio->worker();
    connect(w, &EngineWorker::frameReady, this, [this](quint64 job, const QImage& xt, const QImage& x0, int step, int total, double t) {
        m_studio->worker()->frameConsumed();
        if (job == m_job) m_results->showFrame(xt, x0, step, total, t);  // else a superseded job
    });
    connect(w, &EngineWorker::frameViews, this, [this](quint64 job, const QStringList& names, const QList<QImage>& views) {
        if (job == m_job) m_results->showFrameViews(names, views);
    });
    connect(w, &EngineWorker::partAFinished, this, &MainWindow::showOutput);
    connect(w, &EngineWorker::progress, this, [this](quint64 job, const ds::ProgressEvent& e) {
        if (job == m_job) m_runBar->setProgress(e.step, e.total, e.eta_seconds, QString::fromStdString(e.phase));
    });
    connect(w, &EngineWorker::failed, this, [this](quint64 job, const QString& msg) {
        if (job != m_job) return;
        setStatus(tr("Error: %1").arg(msg));
        m_runBar->markFailed();
    });
    connect(w, &EngineWorker::cancelled, this, [this](quint64 job) {
        if (job != m_job) return;
        setStatus(tr("Stopped"));
        m_runBar->markStopped();
    });
    connect(m_studio, &EngineController::busyChanged, m_runBar, &RunBar::setBusy);
    connect(m_dashboard, &TrainDashboard::openModelRequested, this, [this](const ds::ModelInfo& info) {
        addModel(info);
        showTab(0);
    });
}

void MainWindow::populateModels(const std::vector<ds::ModelInfo>& models) {
    m_settings->setModels(models);
    if (models.empty()) setStatus(tr("No bundled models found: train one in the Train tab"));
    if (m_restored) return;
    m_restored = true;
    const QStringList lost = Workspace::restoreSettings({m_settings, m_panels, canvas(), m_history, m_dashboard},
                                                        [this](const QString& p, QString* why) { return openModel(p, why); });
    if (!lost.isEmpty()) setStatus(tr("Restored the last session, except: %1").arg(lost.join(QStringLiteral("; "))));
    m_dirty = false;
}

void MainWindow::addModel(const ds::ModelInfo& m) {
    if (!m_settings->addModel(m)) setStatus(tr("%1 is a %2, which the Studio cannot run").arg(QString::fromStdString(m.id), QString::fromStdString(m.description)));
}

bool MainWindow::openModel(const QString& path, QString* why) { return m_settings->openModel(path, why); }

bool MainWindow::openModelFolder(const QString& dir) {
    QString why;
    if (openModel(dir, &why)) {
        const auto* m = m_settings->currentModel();
        setStatus(tr("Opened %1 — %2").arg(QString::fromStdString(m->id), QString::fromStdString(m->description)));
        return true;
    }
    setStatus(tr("Cannot open '%1': %2").arg(dir, why));
    QMessageBox::warning(this, tr("Open model"), why);
    return false;
}

ImageCanvas* MainWindow::canvas() const { return m_canvasPanel->canvas(); }
ModePanel* MainWindow::currentPanel() const { return m_panels.value(int(mode())); }
void MainWindow::setMode(Mode mode) { m_settings->setMode(mode); }
MainWindow::Mode MainWindow::mode() const { return m_settings->mode(); }

void MainWindow::modeChanged() {
    auto* p = currentPanel();
    m_modeStack->setCurrentWidget(p);
    m_settings->setFieldUse(p->fields(m_settings->currentModel()));
    m_canvasPanel->setVisible(p->usesCanvas() || p->mode() == Mode::Denoise);
    m_canvasPanel->setMaskToolsVisible(p->usesMask());
    m_dirty = true;
}

void MainWindow::modelChanged() {
    const auto* m = m_settings->currentModel();
    const auto list = m_settings->timestepList();
    for (auto* p : m_panels) p->setModel(m, list);
    m_settings->setFieldUse(currentPanel()->fields(m));
}

void MainWindow::liveChange(bool canvasChange) {
    const auto* p = currentPanel();
    if (!p->isLive() || (canvasChange && !p->usesCanvas())) return;
    // While a slider is dragged, changes coalesce for kLiveDebounceMs; a key step, a typed value,
    // a finished stroke or the release of the slider runs at the next turn of the event loop
    // (changes made in the same turn coalesce). Each run supersedes the one before.
    m_liveTimer.start(QApplication::mouseButtons() != Qt::NoButton ? kLiveDebounceMs : 0);
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::MouseButtonRelease && m_liveTimer.isActive() && m_liveTimer.interval() > 0)
        m_liveTimer.start(0);  // the slider was let go: run now
    return QMainWindow::eventFilter(watched, event);
}

void MainWindow::run() {
    m_liveTimer.stop();
    m_compareWith = QImage();
    const auto* model = m_settings->currentModel();
    auto* p = currentPanel();
    if (!model) return setStatus(tr("No model selected"));
    if (!SettingsPanel::fitsMode(*model, mode()))
        return setStatus(mode() == Mode::Denoise ? tr("Pick a denoiser (e.g. mnist-denoiser) for the Denoise mode")
                                                 : tr("A denoiser only runs in the Denoise mode: pick another model"));
    if (p->usesCanvas() && canvas()->isBlank())  // a hint, not the engine's "the image is blank"
        return setStatus(mode() == Mode::Denoise
                             ? tr("Draw a digit on the canvas (or open an image) to denoise it, or tick Pure noise input")
                             : tr("Draw a digit on the canvas (or open, drop or paste an image): this mode starts from it"));
    if (p->usesMask() && canvas()->maskIsEmpty())
        return setStatus(tr("Paint a mask first (Mask tool): white marks what to generate"));
    m_settings->newSeedIfUnlocked();
    RequestContext c = m_settings->requestContext();
    if (p->usesCanvas()) c.canvas.image = fromQImage(canvas()->image());
    if (p->usesMask()) c.mask.image = fromQImage(canvas()->mask());
    PartARequest request = p->request(c);
    // Frames every N steps (Settings key previewInterval; 1 = every step) for large models.
    const int every = std::max(1, QSettings().value(QStringLiteral("previewInterval"), 1).toInt());
    std::visit([every](auto& r) { r.callbacks.preview_interval = every; }, request);
    m_results->beginRun(mode());
    m_job = m_studio->runPartA(std::move(request), /*supersede=*/true);
    setStatus(tr("Running %1…").arg(m_settings->modeName()));
}

void MainWindow::stop() {
    m_liveTimer.stop();
    m_studio->cancel(ds::CancelMode::Now);
}

void MainWindow::finishCurrent() { m_studio->cancel(ds::CancelMode::AfterCurrent); }

void MainWindow::showOutput(quint64 job, const PartAOutput& out) {
    if (job != m_job) return;
    m_results->showOutput(out);
    m_runBar->markDone(out.seconds);
    m_dirty = true;
    for (const auto& [name, img] : out.panels)
        if (name == QStringLiteral("mask used"))
            canvas()->setUsedMask(img.convertToFormat(QImage::Format_Grayscale8)
                                      .scaled(canvas()->image().size(), Qt::IgnoreAspectRatio, Qt::FastTransformation));
    m_history->add(out.figure, out.images.isEmpty() ? out.figure : out.images.first(), out.recipe, m_settings->modeName());
    QString status = tr("Done in %1 s").arg(out.seconds, 0, 'f', 2);
    if (!m_compareWith.isNull()) {  // "re-run and compare"
        status = m_compareWith == out.figure ? tr("Re-run: identical pixels to the saved result")
                                             : tr("Re-run: the result DIFFERS from the saved one");
        m_compareWith = QImage();
    }
    if (!out.notes.isEmpty()) status += QStringLiteral(" — ") + out.notes.join(QStringLiteral("; "));
    setStatus(status);
}

void MainWindow::rerunAndCompare() {
    const QString recipe = m_results->lastRecipe();
    const QImage reference = m_results->lastFigure();
    if (recipe.isEmpty() || reference.isNull()) return setStatus(tr("Nothing to re-run yet"));
    QStringList lost;
    if (!applyRecipe(recipe, nullptr, &lost)) return;
    if (!lost.isEmpty()) return;  // the status names what is missing; a different run proves nothing
    run();
    m_compareWith = reference;
}

bool MainWindow::applyRecipe(const QString& json, QString* error, QStringList* unrestoredOut) {
    const RecipeRestore r = restoreRecipe(json, m_settings, m_panels, [this](const QString& p, QString* why) { return openModel(p, why); });
    if (!r.ok) {
        if (error) *error = r.error;
        return false;
    }
    if (r.unrestored.isEmpty())
        setStatus(tr("Settings restored from the recipe (%1)").arg(r.technique));
    else
        setStatus(tr("Settings restored from the recipe (%1), except: %2").arg(r.technique, r.unrestored.join(QStringLiteral("; "))));
    if (unrestoredOut) *unrestoredOut = r.unrestored;
    return true;
}

bool MainWindow::loadRecipeFile(const QString& f) {
    QString json, error;
    if (!readRecipeFile(f, &json, &error) || !applyRecipe(json, &error)) {
        setStatus(tr("%1: %2").arg(QFileInfo(f).fileName(), error));
        return false;
    }
    return true;
}

void MainWindow::openRecipe() {
    const QString f = QFileDialog::getOpenFileName(this, tr("Open recipe"), QString(), tr("Recipes (*.png *.json)"));
    if (!f.isEmpty()) loadRecipeFile(f);
}

void MainWindow::openIfFolder() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("DeepFloyd IF stage I folder (diffusers format)"));
    if (!dir.isEmpty()) openModelFolder(dir);
}

void MainWindow::openImage() { m_canvasPanel->openImage(); }
void MainWindow::saveResult() { m_results->saveResult(); }
void MainWindow::exportStrip() { m_results->exportStrip(); }
void MainWindow::exportGif() { m_results->exportGif(); }
void MainWindow::editSettings() {
    if (editApplicationSettings(this)) setStatus(tr("Settings saved (threads, dtype and device apply at the next start)"));
}
QString MainWindow::currentRecipe() const { return m_results->lastRecipe(); }
CompareView* MainWindow::compareView() const { return m_results->compareView(); }
void MainWindow::setResultView(int index) { m_results->setResultView(index); }
bool MainWindow::setCompare(const QString& a, const QString& b) { return m_results->setCompare(a, b); }
QStringList MainWindow::compareChoices() const { return m_results->compareChoices(); }
void MainWindow::setStatus(const QString& text) { m_status->setText(text); }
void MainWindow::showTab(int index) { m_tabs->setCurrentIndex(index); }

bool MainWindow::autosave() {
    if (!m_dirty) return false;
    saveWorkspace();
    return true;
}

void MainWindow::saveWorkspace() {
    Workspace::save({m_settings, m_panels, canvas(), m_history, m_dashboard});
    m_dirty = false;
}

void MainWindow::quitSavingWork() {
    saveWorkspace();
    m_studio->cancel(ds::CancelMode::Now);
    m_trainer->cancel(ds::CancelMode::Now);
    QApplication::quit();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_trainer->busy() || m_studio->busy()) {
        const auto answer = QMessageBox::question(
            this, tr("Quit Diffusion Studio"),
            m_trainer->busy() ? tr("A model is training. Stop it (a checkpoint is saved) and quit?")
                              : tr("A run is in progress. Stop it and quit?"));
        if (answer != QMessageBox::Yes) return event->ignore();
    }
    saveWorkspace();
    // Stop now: training saves a checkpoint at the next batch; the controllers' destructors wait
    // for their worker threads, so the checkpoint is complete before the process exits.
    m_studio->cancel(ds::CancelMode::Now);
    m_trainer->cancel(ds::CancelMode::Now);
    event->accept();
}

}  // namespace ui
