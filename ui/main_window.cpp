#include "ui/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollArea>
#include <QSettings>
#include <QShortcut>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "core/engine/engine.h"
#include "core/engine/recipe.h"
#include "ui/bridge/engine_controller.h"
#include "ui/bridge/image_convert.h"
#include "ui/canvas/canvas_panel.h"
#include "ui/canvas/image_canvas.h"
#include "ui/dashboard/train_dashboard.h"
#include "ui/panels/anagram_panel.h"
#include "ui/panels/denoise_panel.h"
#include "ui/panels/explore_panel.h"
#include "ui/panels/generate_panel.h"
#include "ui/panels/hybrid_panel.h"
#include "ui/panels/inpaint_panel.h"
#include "ui/panels/run_bar.h"
#include "ui/panels/sdedit_panel.h"
#include "ui/panels/settings_panel.h"
#include "ui/results/history_strip.h"
#include "ui/results/results_panel.h"
#include "ui/settings_dialog.h"
#include "ui/workspace.h"

namespace ui {

namespace {
constexpr int kControlsWidth = 360;  // fixed, so the canvas does not move between modes

// True when every pixel of the image has the colour of the first (nothing drawn or loaded).
bool isBlank(const QImage& image) {
    if (image.isNull()) return true;
    const QImage img = image.convertToFormat(QImage::Format_RGB32);
    const QRgb first = img.pixel(0, 0);
    for (int y = 0; y < img.height(); ++y) {
        const auto* row = reinterpret_cast<const QRgb*>(img.constScanLine(y));
        for (int x = 0; x < img.width(); ++x)
            if (row[x] != first) return false;
    }
    return true;
}
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
    m_liveTimer.setInterval(kLiveDebounceMs);
    connect(&m_liveTimer, &QTimer::timeout, this, &MainWindow::run);
    connectEngine();
    const QStringList lost = Workspace::restoreFiles({m_settings, m_panels, canvas(), m_history});
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
    m_panels = {new GeneratePanel(left), new ExplorePanel(left), new SdeditPanel(left), new InpaintPanel(left),
                new AnagramPanel(left),  new HybridPanel(left),  new DenoisePanel(left)};
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
    // A dropped saved result (PNG with a recipe chunk) or recipe JSON restores its settings
    // instead of replacing the drawing; any other image goes onto the canvas.
    canvas()->setDropHandler([this](const QString& path) {
        if (path.endsWith(QStringLiteral(".json"), Qt::CaseInsensitive)) return loadRecipeFile(path), true;
        if (!path.endsWith(QStringLiteral(".png"), Qt::CaseInsensitive)) return false;
        try {
            for (const auto& [k, v] : ds::read_png_text(path.toStdString()))
                if (k == "ds.recipe") return loadRecipeFile(path), true;
        } catch (const std::exception&) {
            return false;  // not a readable PNG: the canvas reports it
        }
        return false;
    });
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
        if (job == m_job) m_runBar->setProgress(e.step, e.total, e.eta_seconds);
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

// ---------------------------------------------------------------------------------------------
void MainWindow::populateModels(const std::vector<ds::ModelInfo>& models) {
    m_settings->setModels(models);
    if (models.empty()) setStatus(tr("No bundled models found: train one in the Train tab"));
    if (m_restored) return;
    m_restored = true;
    const QStringList lost = Workspace::restoreSettings({m_settings, m_panels, canvas(), m_history},
                                                        [this](const QString& p, QString* why) { return openModel(p, why); });
    if (!lost.isEmpty()) setStatus(tr("Restored the last session, except: %1").arg(lost.join(QStringLiteral("; "))));
    m_dirty = false;
}

void MainWindow::addModel(const ds::ModelInfo& m) {
    if (!m_settings->addModel(m)) setStatus(tr("%1 is a %2, which the Studio cannot run").arg(QString::fromStdString(m.id), QString::fromStdString(m.description)));
}

bool MainWindow::openModel(const QString& path, QString* why) {
    // Described (and validated) on the GUI thread: it only reads config files and headers.
    try {
        ds::EngineOptions o;
        o.threads = 1;
        const ds::ModelInfo info = ds::Engine(o).describe(path.toStdString());
        return m_settings->addModel(info) || (why && (*why = tr("a %1, not playable").arg(QString::fromStdString(info.description)), false));
    } catch (const std::exception& e) {
        if (why) *why = QString::fromUtf8(e.what());
        return false;
    }
}

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
    if (p->isLive() && (!canvasChange || p->usesCanvas())) m_liveTimer.start();  // debounced; the run supersedes
}

// ---------------------------------------------------------------------------------------------
void MainWindow::run() {
    m_liveTimer.stop();
    m_compareWith = QImage();
    const auto* model = m_settings->currentModel();
    auto* p = currentPanel();
    if (!model) return setStatus(tr("No model selected"));
    if (!SettingsPanel::fitsMode(*model, mode()))
        return setStatus(mode() == Mode::Denoise ? tr("Pick a denoiser (e.g. mnist-denoiser) for the Denoise mode")
                                                 : tr("A denoiser only runs in the Denoise mode: pick another model"));
    if (p->usesCanvas() && isBlank(canvas()->image()))  // a hint, not the engine's "the image is blank"
        return setStatus(mode() == Mode::Denoise
                             ? tr("Draw a digit on the canvas (or open an image) to denoise it, or tick Pure noise input")
                             : tr("Draw a digit on the canvas (or open, drop or paste an image): this mode starts from it"));
    if (p->usesMask() && canvas()->maskIsEmpty())
        return setStatus(tr("Paint a mask first (Mask tool): white marks what to generate"));
    m_settings->newSeedIfUnlocked();
    RequestContext c;
    c.sampler = m_settings->samplerSettings();
    c.model = model;
    c.timesteps = m_settings->timestepList();
    c.steps = m_settings->steps();
    c.prompt2 = m_settings->secondPrompt();
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

// ---------------------------------------------------------------------------------------------
bool MainWindow::applyRecipe(const QString& json, QString* error, QStringList* unrestoredOut) {
    // A recipe is data someone may have sent: checked against the allow-list before any field is used.
    try {
        ds::parse_recipe(json.toStdString(), "recipe");
    } catch (const std::exception& e) {
        if (error) *error = QString::fromUtf8(e.what());
        return false;
    }
    const QJsonObject r = QJsonDocument::fromJson(json.toUtf8()).object();
    if (r.value(QStringLiteral("format")).toString() != QStringLiteral("ds.recipe/1")) {
        if (error) *error = tr("Not a Diffusion Studio recipe");
        return false;
    }
    const QString technique = r.value(QStringLiteral("technique")).toString();
    static const QHash<QString, Mode> modes = {
        {QStringLiteral("sample"), Mode::Generate},  {QStringLiteral("iterate"), Mode::Generate},
        {QStringLiteral("explore"), Mode::Explore},  {QStringLiteral("sdedit"), Mode::Sdedit},
        {QStringLiteral("inpaint"), Mode::Inpaint},  {QStringLiteral("anagram"), Mode::Anagram},
        {QStringLiteral("hybrid"), Mode::Hybrid},    {QStringLiteral("if-generate"), Mode::Generate},
        {QStringLiteral("denoise"), Mode::Denoise}};
    QStringList unrestored;
    // IF text-to-image recipes name the stage I folder "weights" (and stage II "upscaler").
    const QString model = r.contains(QStringLiteral("model")) ? r.value(QStringLiteral("model")).toString()
                                                              : r.value(QStringLiteral("weights")).toString();
    if (!m_settings->selectModel(model)) {
        QString why = tr("not loaded, and no such file or folder");
        if (!QFileInfo::exists(model) || !openModel(model, &why))
            unrestored << tr("model '%1' (%2; %3 stays selected)").arg(model, why,
                                                                     m_settings->currentModel() ? QString::fromStdString(m_settings->currentModel()->id) : QString());
    }
    if (modes.contains(technique)) setMode(modes.value(technique));
    m_settings->applyRecipe(r, &unrestored);
    currentPanel()->applyRecipe(r, &unrestored);
    if (unrestored.isEmpty())
        setStatus(tr("Settings restored from the recipe (%1)").arg(technique));
    else
        setStatus(tr("Settings restored from the recipe (%1), except: %2").arg(technique, unrestored.join(QStringLiteral("; "))));
    if (unrestoredOut) *unrestoredOut = unrestored;
    return true;
}

bool MainWindow::loadRecipeFile(const QString& f) {
    QString json;
    if (f.endsWith(QStringLiteral(".png"), Qt::CaseInsensitive)) {
        try {
            for (const auto& [k, v] : ds::read_png_text(f.toStdString()))
                if (k == "ds.recipe") json = QString::fromStdString(v);
        } catch (const std::exception& e) {
            setStatus(QString::fromUtf8(e.what()));
            return false;
        }
    } else {
        QFile file(f);
        if (file.size() > qint64(ds::kMaxRecipeBytes)) {
            setStatus(tr("%1: %2 bytes, larger than any recipe").arg(QFileInfo(f).fileName()).arg(file.size()));
            return false;
        }
        if (file.open(QIODevice::ReadOnly)) json = QString::fromUtf8(file.read(qint64(ds::kMaxRecipeBytes)));
    }
    QString error;
    if (!applyRecipe(json, &error)) {
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
    Workspace::save({m_settings, m_panels, canvas(), m_history});
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
