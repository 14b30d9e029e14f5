#include "ui/main_window.h"

#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QColorDialog>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QLineEdit>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSaveFile>
#include <QSettings>
#include <QShortcut>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include "core/engine/recipe.h"
#include "core/engine/engine.h"
#include "core/engine/hashing.h"
#include "ui/bridge/engine_controller.h"
#include "ui/bridge/image_convert.h"
#include "ui/canvas/compare_view.h"
#include "ui/canvas/image_canvas.h"
#include "ui/dashboard/train_dashboard.h"
#include "ui/panels/denoise_panel.h"

namespace ui {

namespace {
constexpr int kLiveDebounceMs = 120;  // slider moves within this window coalesce into one run
constexpr int kHistoryLimit = 24;

QLabel* makeView(const QString& title, QWidget* parent, int minSide = 200) {
    auto* label = new QLabel(parent);
    label->setMinimumSize(minSide, minSide);
    label->setAlignment(Qt::AlignCenter);
    label->setStyleSheet(QStringLiteral("background:#202124;color:#9aa0a6;border-radius:6px;"));
    label->setText(title);
    return label;
}

const char* kModeNames[] = {"Generate", "Forward / denoise explorer", "SDEdit (image-to-image)",
                            "Inpaint", "Visual anagram", "Hybrid image", "Denoise (single-step denoiser)"};

bool isFlow(const ds::ModelInfo* m) {
    return m && (m->kind == ds::ModelKind::ClassFm || m->kind == ds::ModelKind::TimeFm) && m->family == "mnist";
}
bool isDenoiser(const ds::ModelInfo& m) { return m.family == "mnist" && m.kind == ds::ModelKind::Denoiser; }

// True when every pixel of the canvas has the colour of the first (nothing drawn or loaded).
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
const char* kViews[] = {"rot180", "flipv", "fliph", "rot90", "rot270", "transpose", "jigsaw2", "jigsaw4", "negate"};

QString workspaceDir() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/workspace");
}
}  // namespace

MainWindow::MainWindow(EngineController* studio, EngineController* trainer, QWidget* parent)
    : QMainWindow(parent), m_studio(studio), m_trainer(trainer) {
    setWindowTitle(QStringLiteral("Diffusion Studio"));
    m_tabs = new QTabWidget(this);
    auto* studioTab = new QWidget(m_tabs);
    auto* row = new QHBoxLayout(studioTab);
    auto* split = new QSplitter(Qt::Horizontal, studioTab);
    split->addWidget(buildControls());
    split->addWidget(buildCanvasPanel());
    split->addWidget(buildResults());
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 1);
    row->addWidget(split);
    m_tabs->addTab(studioTab, tr("Studio"));
    m_dashboard = new TrainDashboard(trainer, m_tabs);
    m_tabs->addTab(m_dashboard, tr("Train"));
    setCentralWidget(m_tabs);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("status"));
    statusBar()->addWidget(m_status, 1);

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

    m_liveTimer.setSingleShot(true);
    m_liveTimer.setInterval(kLiveDebounceMs);
    connect(&m_liveTimer, &QTimer::timeout, this, &MainWindow::run);

    auto* w = m_studio->worker();
    connect(w, &EngineWorker::frameReady, this, &MainWindow::showFrame);
    connect(w, &EngineWorker::frameViews, this, &MainWindow::showFrameViews);
    connect(w, &EngineWorker::partAFinished, this, &MainWindow::showOutput);
    connect(w, &EngineWorker::progress, this, [this](quint64 job, const ds::ProgressEvent& e) {
        if (job != m_job) return;
        m_progress->setMaximum(int(e.total));
        m_progress->setValue(int(e.step));
        m_progress->setFormat(e.eta_seconds >= 0 ? tr("%v / %m  ETA %1 s").arg(e.eta_seconds, 0, 'f', 1)
                                                 : tr("%v / %m"));
    });
    connect(w, &EngineWorker::failed, this, [this](quint64 job, const QString& msg) {
        if (job == m_job) setStatus(tr("Error: %1").arg(msg));
    });
    connect(w, &EngineWorker::cancelled, this, [this](quint64 job) {
        if (job == m_job) setStatus(tr("Stopped"));
    });
    connect(m_studio, &EngineController::busyChanged, this, &MainWindow::setBusy);
    connect(m_dashboard, &TrainDashboard::openModelRequested, this, [this](const ds::ModelInfo& info) {
        addModel(info);
        showTab(0);
    });
    restoreWorkspace();
    // Periodic autosave: a crash or power loss costs at most kAutosaveSeconds of work.
    m_autosaveTimer.setInterval(kAutosaveSeconds * 1000);
    connect(&m_autosaveTimer, &QTimer::timeout, this, &MainWindow::autosave);
    m_autosaveTimer.start();
    for (auto* box : {m_mode, m_model, m_prompt, m_prompt2})
        connect(box, &QComboBox::currentIndexChanged, this, &MainWindow::markDirty);
    connect(m_iStart, &QSlider::valueChanged, this, &MainWindow::markDirty);
    connect(m_guidance, &QDoubleSpinBox::valueChanged, this, &MainWindow::markDirty);
    connect(m_seed, &QSpinBox::valueChanged, this, &MainWindow::markDirty);
    m_dirty = false;
}

MainWindow::~MainWindow() = default;

QWidget* MainWindow::buildControls() {
    auto* box = new QGroupBox(tr("Settings"), this);
    auto* form = new QFormLayout(box);
    m_mode = new QComboBox(box);
    m_mode->setObjectName(QStringLiteral("mode"));
    for (const char* n : kModeNames) m_mode->addItem(tr(n));
    m_model = new QComboBox(box);
    m_model->setObjectName(QStringLiteral("model"));
    m_prompt = new QComboBox(box);
    m_prompt2 = new QComboBox(box);
    m_prompt2Label = new QLabel(tr("Second prompt"), box);
    m_negative = new QLineEdit(box);
    m_negative->setObjectName(QStringLiteral("negativePrompt"));
    m_negative->setPlaceholderText(tr("(empty: IF's default)"));
    m_negative->setToolTip(tr("Negative prompt: the text CFG steers away from (DeepFloyd IF only)"));
    m_negativeLabel = new QLabel(tr("Negative prompt"), box);
    m_guidance = new QDoubleSpinBox(box);
    m_guidance->setRange(0, 30);
    m_guidance->setSingleStep(0.5);
    m_guidance->setValue(5.0);
    m_guidance->setToolTip(tr("Classifier-free guidance γ: ε = ε_u + γ(ε_c − ε_u); 1 = no CFG"));
    m_seed = new QSpinBox(box);
    m_seed->setRange(0, (1 << 30));
    m_seedLock = new QCheckBox(tr("lock"), box);
    m_seedLock->setChecked(true);
    m_seedLock->setToolTip(tr("Locked: every run uses this seed. Unlocked: a new seed per run."));
    auto* dice = new QToolButton(box);
    dice->setText(tr("Random"));
    dice->setToolTip(tr("Random seed"));
    auto* seedRow = new QHBoxLayout;
    seedRow->addWidget(m_seed, 1);
    seedRow->addWidget(m_seedLock);
    seedRow->addWidget(dice);
    m_count = new QSpinBox(box);
    m_count->setRange(1, 16);
    m_count->setValue(4);
    m_steps = new QSpinBox(box);
    m_steps->setObjectName(QStringLiteral("steps"));
    m_steps->setRange(2, 1000);
    m_steps->setValue(kCourseSteps);
    m_steps->setToolTip(tr("Length of the strided timestep list (the course: 34, i.e. 990…0 by 30 for IF, "
                           "297…0 by 9 for T = 300); i_start indexes this list"));
    m_iStart = new QSlider(Qt::Horizontal, box);
    m_iStartLabel = new QLabel(box);
    m_iStartLabel->setMinimumWidth(200);
    form->addRow(tr("Mode"), m_mode);
    form->addRow(tr("Model"), m_model);
    form->addRow(tr("Prompt"), m_prompt);
    form->addRow(m_prompt2Label, m_prompt2);
    form->addRow(m_negativeLabel, m_negative);
    form->addRow(tr("Guidance"), m_guidance);
    form->addRow(tr("Seed"), seedRow);
    form->addRow(tr("Samples"), m_count);
    form->addRow(tr("Steps"), m_steps);
    form->addRow(tr("i_start"), m_iStart);
    form->addRow(QString(), m_iStartLabel);

    // Per-mode options.
    m_modeOptions = new QStackedWidget(box);
    auto* gen = new QWidget(box);
    auto* gf = new QFormLayout(gen);
    gf->addRow(new QLabel(tr("Sample from pure noise on the strided\nlist (i_start = 0 samples from scratch)."), gen));
    // DeepFloyd IF only: upscale the 64 px stage I result with a stage II folder (256 px).
    m_upscaler = new QLineEdit(gen);
    m_upscaler->setObjectName(QStringLiteral("upscalerFolder"));
    m_upscaler->setPlaceholderText(tr("(none: 64 px only)"));
    m_upscaler->setToolTip(tr("A DeepFloyd IF stage II folder (e.g. IF-II-L-v1.0): the stage I images are "
                              "upscaled to 256 px (guidance 4, noise level 250)"));
    auto* browse = new QToolButton(gen);
    browse->setText(tr("…"));
    connect(browse, &QToolButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("DeepFloyd IF stage II folder"));
        if (!d.isEmpty()) m_upscaler->setText(d);
    });
    m_upscalerRow = new QWidget(gen);
    auto* ur = new QHBoxLayout(m_upscalerRow);
    ur->setContentsMargins(0, 0, 0, 0);
    ur->addWidget(new QLabel(tr("Stage II"), m_upscalerRow));
    ur->addWidget(m_upscaler, 1);
    ur->addWidget(browse);
    gf->addRow(m_upscalerRow);
    // Flow-matching models sample with their own Euler steps (t = 0 noise -> 1 data).
    m_eulerSteps = new QSpinBox(gen);
    m_eulerSteps->setObjectName(QStringLiteral("eulerSteps"));
    m_eulerSteps->setRange(1, 1000);
    m_eulerSteps->setValue(50);
    m_eulerSteps->setToolTip(tr("Flow matching: Euler steps from t = 0 (noise) to t = 1 (data) with the model's "
                                "velocity (the course: 50 for the time-conditioned model, 300 with classes)"));
    m_eulerRow = new QWidget(gen);
    auto* er = new QHBoxLayout(m_eulerRow);
    er->setContentsMargins(0, 0, 0, 0);
    er->addWidget(new QLabel(tr("Euler steps"), m_eulerRow));
    er->addWidget(m_eulerSteps, 1);
    gf->addRow(m_eulerRow);
    m_modeOptions->addWidget(gen);
    auto* explore = new QWidget(box);
    auto* ef = new QFormLayout(explore);
    m_tSlider = new QSlider(Qt::Horizontal, explore);
    m_tLabel = new QLabel(explore);
    ef->addRow(tr("t"), m_tSlider);
    ef->addRow(QString(), m_tLabel);
    m_modeOptions->addWidget(explore);
    auto* sd = new QWidget(box);
    auto* sf = new QVBoxLayout(sd);
    m_live = new QCheckBox(tr("Live: re-run while the i_start slider moves"), sd);
    m_live->setChecked(true);
    m_strip = new QCheckBox(tr("Strip: the course's i_start list 1,3,5,7,10,20"), sd);
    sf->addWidget(m_live);
    sf->addWidget(m_strip);
    m_modeOptions->addWidget(sd);
    auto* inp = new QWidget(box);
    auto* inf = new QFormLayout(inp);
    m_grow = new QSpinBox(inp);
    m_grow->setRange(0, 16);
    m_feather = new QDoubleSpinBox(inp);
    m_feather->setRange(0, 16);
    m_feather->setSingleStep(0.5);
    inf->addRow(tr("Grow mask (px)"), m_grow);
    inf->addRow(tr("Feather (σ px)"), m_feather);
    inf->addRow(new QLabel(tr("Paint the mask on the canvas (mask brush):\nwhite = generate. Shift+V inverts."), inp));
    m_modeOptions->addWidget(inp);
    auto* ana = new QWidget(box);
    auto* af = new QFormLayout(ana);
    m_view = new QComboBox(ana);
    for (const char* v : kViews) m_view->addItem(QString::fromLatin1(v));
    af->addRow(tr("Second view"), m_view);
    m_modeOptions->addWidget(ana);
    auto* hy = new QWidget(box);
    auto* hf = new QFormLayout(hy);
    m_kernel = new QSpinBox(hy);
    m_kernel->setRange(3, 65);
    m_kernel->setSingleStep(2);
    m_kernel->setValue(33);
    m_sigma = new QDoubleSpinBox(hy);
    m_sigma->setRange(0.3, 16);
    m_sigma->setValue(2.0);
    m_distance = new QSlider(Qt::Horizontal, hy);
    m_distance->setRange(0, 8);
    m_distance->setToolTip(tr("Viewing distance: blurs the result to show the far reading"));
    hf->addRow(tr("Kernel"), m_kernel);
    hf->addRow(tr("σ"), m_sigma);
    hf->addRow(tr("Viewing distance"), m_distance);
    m_modeOptions->addWidget(hy);
    m_denoise = new DenoisePanel(box);
    m_modeOptions->addWidget(m_denoise);
    form->addRow(m_modeOptions);

    m_runButton = new QPushButton(tr("Run  (Ctrl+Enter)"), box);
    m_stopButton = new QPushButton(tr("Stop  (Esc)"), box);
    m_stopButton->setEnabled(false);
    m_stopButton->setToolTip(tr("Stop now: the run ends at the next step"));
    m_finishButton = new QPushButton(tr("Finish current"), box);
    m_finishButton->setEnabled(false);
    m_finishButton->setToolTip(tr("Let the running image finish, then stop: an SDEdit strip keeps the "
                                  "i_start values done so far"));
    m_progress = new QProgressBar(box);
    form->addRow(m_runButton);
    auto* stopRow = new QHBoxLayout;
    stopRow->addWidget(m_stopButton, 1);
    stopRow->addWidget(m_finishButton, 1);
    form->addRow(stopRow);
    form->addRow(m_progress);
    box->setMaximumWidth(380);

    connect(m_mode, &QComboBox::currentIndexChanged, this, [this](int i) {
        m_modeOptions->setCurrentIndex(i);
        selectModelForMode();
        updateModelDependent();
    });
    connect(m_denoise, &DenoisePanel::changed, this, [this] {
        m_dirty = true;
        if (mode() == Mode::Denoise && m_denoise->live()) scheduleLive();
    });
    connect(m_model, &QComboBox::currentIndexChanged, this, &MainWindow::updateModelDependent);
    connect(dice, &QToolButton::clicked, this, [this] { m_seed->setValue(QRandomGenerator::global()->bounded(1 << 30)); });
    connect(m_steps, &QSpinBox::valueChanged, this, [this] {
        const auto* m = currentModel();
        m_iStart->setRange(0, m ? std::max(0, int(timestepList().size()) - 1) : 0);
        updateTimestepLabels();
        m_dirty = true;
    });
    connect(m_iStart, &QSlider::valueChanged, this, [this] {
        updateTimestepLabels();
        if (mode() == Mode::Sdedit && m_live->isChecked()) scheduleLive();
    });
    connect(m_tSlider, &QSlider::valueChanged, this, [this] {
        updateTimestepLabels();
        if (mode() == Mode::Explore) scheduleLive();
    });
    connect(m_distance, &QSlider::valueChanged, this, [this] { showScrubbed(-1); });
    connect(m_runButton, &QPushButton::clicked, this, &MainWindow::run);
    connect(m_stopButton, &QPushButton::clicked, this, &MainWindow::stop);
    connect(m_finishButton, &QPushButton::clicked, this, &MainWindow::finishCurrent);
    return box;
}

QWidget* MainWindow::buildCanvasPanel() {
    auto* panel = new QWidget(this);
    auto* col = new QVBoxLayout(panel);
    m_canvas = new ImageCanvas(panel);
    auto* tools = new QHBoxLayout;
    auto tool = [&](const QString& text, const QString& tip, auto fn) {
        auto* b = new QToolButton(panel);
        b->setText(text);
        b->setToolTip(tip);
        connect(b, &QToolButton::clicked, this, fn);
        tools->addWidget(b);
        return b;
    };
    tool(tr("Open"), tr("Open an image (or drop / paste one)"), [this] { openImage(); });
    tool(tr("Pen"), tr("Draw (light ink on the MNIST canvas)"), [this] { m_canvas->setTool(ImageCanvas::Tool::Pen); });
    tool(tr("Eraser"), tr("Erase to paper"), [this] { m_canvas->setTool(ImageCanvas::Tool::Eraser); });
    tool(tr("Mask"), tr("Paint the inpainting mask (white = generate)"),
         [this] { m_canvas->setTool(ImageCanvas::Tool::MaskBrush); });
    tool(tr("Unmask"), tr("Erase the mask"), [this] { m_canvas->setTool(ImageCanvas::Tool::MaskEraser); });
    tool(tr("Invert"), tr("Invert the mask (Shift+V)"), [this] { m_canvas->invertMask(); });
    tool(tr("Clear mask"), tr("Clear the mask"), [this] { m_canvas->clearMask(); });
    tool(tr("Clear"), tr("Clear the drawing"), [this] { m_canvas->clearImage(); });
    auto* undo = tool(tr("Undo"), tr("Undo the last stroke (Ctrl+Z)"), [this] { m_canvas->undo(); });
    auto* redo = tool(tr("Redo"), tr("Redo (Ctrl+Shift+Z)"), [this] { m_canvas->redo(); });
    tool(tr("Import mask"), tr("Load a mask PNG"), [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Import mask"), QString(), tr("Images (*.png *.jpg *.bmp)"));
        if (f.isEmpty()) return;
        QImage m(f);
        if (m.isNull()) return setStatus(tr("Cannot read mask '%1'").arg(f));
        m_canvas->setMask(m);
    });
    tool(tr("Export mask"), tr("Save the mask as PNG"), [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export mask"), QStringLiteral("mask.png"), tr("PNG (*.png)"));
        if (!f.isEmpty() && !m_canvas->mask().save(f)) setStatus(tr("Cannot write '%1'").arg(f));
    });
    m_inkButton = tool(tr("Ink…"), tr("Pen colour or gray level (MNIST models read gray)"), [this] {
        const QColor c = QColorDialog::getColor(m_canvas->ink(), this, tr("Ink colour"));
        if (c.isValid()) m_canvas->setInk(c);
    });
    m_overlayButton = tool(tr("Overlay…"), tr("Colour of the mask overlay"), [this] {
        const QColor c = QColorDialog::getColor(m_canvas->overlayColor(), this, tr("Mask overlay colour"));
        if (c.isValid()) m_canvas->setOverlay(c, m_canvas->overlayOpacity());
    });
    tools->addStretch(1);
    auto* brush = new QHBoxLayout;
    auto* size = new QSlider(Qt::Horizontal, panel);
    size->setRange(1, 128);
    size->setValue(m_canvas->brushSize());
    auto* hard = new QSlider(Qt::Horizontal, panel);
    hard->setRange(0, 100);
    hard->setValue(int(m_canvas->hardness() * 100));
    auto* opacity = new QSlider(Qt::Horizontal, panel);
    opacity->setRange(0, 100);
    opacity->setValue(45);
    brush->addWidget(new QLabel(tr("Size [ ]"), panel));
    brush->addWidget(size);
    brush->addWidget(new QLabel(tr("Hardness"), panel));
    brush->addWidget(hard);
    brush->addWidget(new QLabel(tr("Mask opacity"), panel));
    brush->addWidget(opacity);
    col->addLayout(tools);
    col->addLayout(brush);
    col->addWidget(m_canvas, 1);
    connect(size, &QSlider::valueChanged, m_canvas, &ImageCanvas::setBrushSize);
    connect(hard, &QSlider::valueChanged, this, [this](int v) { m_canvas->setHardness(v / 100.0); });
    connect(opacity, &QSlider::valueChanged, this, [this](int v) { m_canvas->setOverlay(m_canvas->overlayColor(), v / 100.0); });
    connect(m_canvas, &ImageCanvas::notice, this, &MainWindow::setStatus);
    // A dropped saved result (PNG with a recipe chunk) or recipe JSON restores its settings
    // instead of replacing the drawing; any other image goes onto the canvas.
    m_canvas->setDropHandler([this](const QString& path) {
        if (path.endsWith(QStringLiteral(".json"), Qt::CaseInsensitive)) return loadRecipeFile(path), true;
        if (!path.endsWith(QStringLiteral(".png"), Qt::CaseInsensitive)) return false;
        try {
            for (const auto& [k, v] : ds::read_png_text(path.toStdString()))
                if (k == "ds.recipe") {
                    if (loadRecipeFile(path)) setStatus(tr("Settings restored from the dropped result %1").arg(QFileInfo(path).fileName()));
                    return true;
                }
        } catch (const std::exception&) {
            return false;  // not a readable PNG: the canvas reports it
        }
        return false;
    });
    connect(m_canvas, &ImageCanvas::undoStateChanged, this, [this, undo, redo] {
        undo->setEnabled(m_canvas->canUndo());
        redo->setEnabled(m_canvas->canRedo());
    });
    connect(m_canvas, &ImageCanvas::edited, this, [this] {
        m_dirty = true;
        if ((mode() == Mode::Sdedit && m_live->isChecked()) || mode() == Mode::Explore ||
            (mode() == Mode::Denoise && m_denoise->live()))
            scheduleLive();
    });
    return panel;
}

QWidget* MainWindow::buildResults() {
    auto* panel = new QWidget(this);
    auto* col = new QVBoxLayout(panel);
    auto* live = new QHBoxLayout;
    m_xt = makeView(tr("x_t"), panel, 160);
    m_x0 = makeView(tr("predicted x0"), panel, 160);
    m_viewLive = makeView(tr("x0 through the view"), panel, 160);
    // Each live view with a caption above it (the x_t caption carries step and t).
    auto captioned = [&](QLabel* view, QLabel* caption) {
        auto* box = new QWidget(panel);
        auto* v = new QVBoxLayout(box);
        v->setContentsMargins(0, 0, 0, 0);
        v->setSpacing(2);
        caption->setAlignment(Qt::AlignCenter);
        v->addWidget(caption);
        v->addWidget(view, 1);
        live->addWidget(box, 1);
        return box;
    };
    m_xtCaption = new QLabel(tr("x_t"), panel);
    m_viewCaption = new QLabel(tr("x0 through the view"), panel);
    captioned(m_xt, m_xtCaption);
    captioned(m_x0, new QLabel(tr("x0 (clean estimate)"), panel));
    m_viewBox = captioned(m_viewLive, m_viewCaption);
    m_viewBox->setVisible(false);
    m_figure = makeView(tr("Result"), panel, 240);
    m_compare = new CompareView(panel);
    m_resultStack = new QStackedWidget(panel);
    m_resultStack->addWidget(m_figure);
    m_resultStack->addWidget(m_compare);
    m_resultView = new QComboBox(panel);
    m_resultView->addItems({tr("Figure"), tr("Compare (slider)"), tr("Side by side")});
    m_resultView->setToolTip(tr("Show the labelled figure, or compare two images (e.g. the model-size "
                                "input and the result) with a slider or side by side"));
    m_compareA = new QComboBox(panel);
    m_compareB = new QComboBox(panel);
    m_compareRow = new QWidget(panel);
    auto* cmpRow = new QHBoxLayout(m_compareRow);
    cmpRow->setContentsMargins(0, 0, 0, 0);
    cmpRow->addWidget(new QLabel(tr("A"), m_compareRow));
    cmpRow->addWidget(m_compareA, 1);
    cmpRow->addWidget(new QLabel(tr("B"), m_compareRow));
    cmpRow->addWidget(m_compareB, 1);
    m_compareRow->setVisible(false);
    auto* scrubRow = new QHBoxLayout;
    m_scrubber = new QSlider(Qt::Horizontal, panel);
    m_scrubber->setEnabled(false);
    m_scrubX0 = new QCheckBox(tr("x0 for GIF"), panel);
    auto* gif = new QPushButton(tr("Export…"), panel);
    gif->setToolTip(tr("Export the trajectory as an animated GIF or an MP4 video"));
    auto* rerun = new QPushButton(tr("Re-run && compare"), panel);
    rerun->setToolTip(tr("Run the shown result's recipe again and report whether the pixels match"));
    auto* save = new QPushButton(tr("Save…"), panel);
    scrubRow->addWidget(new QLabel(tr("Trajectory"), panel));
    scrubRow->addWidget(m_scrubber, 1);
    auto* buttonRow = new QHBoxLayout;
    buttonRow->addWidget(m_scrubX0);
    buttonRow->addWidget(m_resultView);
    buttonRow->addStretch(1);
    buttonRow->addWidget(gif);
    buttonRow->addWidget(rerun);
    buttonRow->addWidget(save);
    m_history = new QListWidget(panel);
    m_history->setViewMode(QListView::IconMode);
    m_history->setFlow(QListView::LeftToRight);
    m_history->setWrapping(false);
    m_history->setIconSize(QSize(72, 72));
    m_history->setFixedHeight(100);
    col->addLayout(live);
    col->addLayout(scrubRow);
    col->addLayout(buttonRow);
    col->addWidget(m_compareRow);
    col->addWidget(m_resultStack, 2);
    col->addWidget(new QLabel(tr("History (click to show, double-click to restore its settings)"), panel));
    col->addWidget(m_history);
    connect(m_scrubber, &QSlider::valueChanged, this, &MainWindow::showScrubbed);
    connect(m_resultView, &QComboBox::currentIndexChanged, this, &MainWindow::setResultView);
    connect(m_compareA, &QComboBox::currentIndexChanged, this, &MainWindow::updateCompare);
    connect(m_compareB, &QComboBox::currentIndexChanged, this, &MainWindow::updateCompare);
    connect(m_scrubX0, &QCheckBox::toggled, this, [this] { showScrubbed(m_scrubber->value()); });
    connect(gif, &QPushButton::clicked, this, &MainWindow::exportGif);
    connect(rerun, &QPushButton::clicked, this, &MainWindow::rerunAndCompare);
    connect(save, &QPushButton::clicked, this, &MainWindow::saveResult);
    connect(m_history, &QListWidget::itemClicked, this, [this](QListWidgetItem* item) {
        m_lastFigure = item->data(Qt::UserRole).value<QImage>();
        m_lastRecipe = item->data(Qt::UserRole + 1).toString();
        m_figure->setPixmap(fitted(m_lastFigure, m_figure));
    });
    connect(m_history, &QListWidget::itemDoubleClicked, this,
            [this](QListWidgetItem* item) { applyRecipe(item->data(Qt::UserRole + 1).toString()); });
    return panel;
}

// ---------------------------------------------------------------------------------------------
void MainWindow::populateModels(const std::vector<ds::ModelInfo>& models) {
    m_models.clear();
    m_model->clear();
    for (const auto& m : models) {
        const bool usable = m.family == "deepfloyd-if" || m.kind != ds::ModelKind::Classifier;
        if (!usable) continue;
        m_models.push_back(m);
        m_model->addItem(QString::fromStdString(m.id));
    }
    if (m_models.empty()) setStatus(tr("No bundled DDPM models found: train one in the Train tab"));
    QSettings s;  // the workspace's model and prompts, else the bundled class DDPM
    const int saved = m_model->findText(s.value(QStringLiteral("workspace/model")).toString());
    const int cls = m_model->findText(QStringLiteral("mnist-class-ddpm"));
    if (saved >= 0 || cls >= 0) m_model->setCurrentIndex(saved >= 0 ? saved : cls);
    selectModelForMode();
    updateModelDependent();
    if (saved >= 0) {
        const int p = m_prompt->findData(s.value(QStringLiteral("workspace/prompt")));
        if (p >= 0) m_prompt->setCurrentIndex(p);
        const int p2 = m_prompt2->findData(s.value(QStringLiteral("workspace/prompt2")));
        if (p2 >= 0) m_prompt2->setCurrentIndex(p2);
        m_iStart->setValue(s.value(QStringLiteral("workspace/iStart"), m_iStart->value()).toInt());
    }
}

void MainWindow::addModel(const ds::ModelInfo& m) {
    // The Part A techniques need a noise predictor: DDPM models, flow-matching models (through the
    // engine's flow-to-DDPM adapter) and IF folders; the Denoise mode takes single-step denoisers.
    const bool predictor = m.kind == ds::ModelKind::ClassDdpm || m.kind == ds::ModelKind::TimeDdpm ||
                           m.kind == ds::ModelKind::ClassFm || m.kind == ds::ModelKind::TimeFm;
    if (m.family != "deepfloyd-if" && !predictor && !isDenoiser(m)) return;
    m_models.push_back(m);
    m_model->addItem(QString::fromStdString(m.id));
    // A model opened by the user is selected, in a mode that can use it (a denoiser: Denoise;
    // anything else when in Denoise mode: Generate).
    if (isDenoiser(m) != (mode() == Mode::Denoise)) setMode(isDenoiser(m) ? Mode::Denoise : Mode::Generate);
    m_model->setCurrentIndex(m_model->count() - 1);
    selectModelForMode();
}

bool MainWindow::modelFitsMode(const ds::ModelInfo& m) const { return isDenoiser(m) == (mode() == Mode::Denoise); }

void MainWindow::selectModelForMode() {
    // Models a mode cannot use stay listed but greyed out; the selection moves to one it can.
    auto* items = qobject_cast<QStandardItemModel*>(m_model->model());
    for (int i = 0; i < int(m_models.size()) && items; ++i)
        if (auto* item = items->item(i)) item->setEnabled(modelFitsMode(m_models[i]));
    if (const auto* m = currentModel(); !m || modelFitsMode(*m)) return;
    int pick = -1;
    for (int i = 0; i < int(m_models.size()); ++i)
        if (modelFitsMode(m_models[i]) && (pick < 0 || m_models[i].id == "mnist-class-ddpm")) pick = i;
    if (pick >= 0) m_model->setCurrentIndex(pick);
}

const ds::ModelInfo* MainWindow::currentModel() const {
    const int i = m_model->currentIndex();
    return i >= 0 && i < int(m_models.size()) ? &m_models[i] : nullptr;
}

void MainWindow::fillPrompt(QComboBox* box, bool allowUnconditional) {
    const QVariant keep = box->count() > 0 ? box->currentData() : QVariant();
    box->clear();
    const auto* m = currentModel();
    const bool text = m && m->family == "deepfloyd-if";
    box->setEditable(text);
    if (text) {  // IF: free text; the course's prompts as suggestions
        box->setEnabled(true);
        for (const char* p : {"a high quality photo", "an oil painting of a snowy mountain village", "a man wearing a hat",
                              "a rocket ship", "an oil painting of an old man", "an oil painting of people around a campfire",
                              "a lithograph of a skull", "a lithograph of waterfalls", ""})
            box->addItem(QString::fromUtf8(p), QString::fromUtf8(p));
        return;
    }
    if (!m || m->num_classes == 0) {
        box->addItem(tr("(unconditional model)"), QString());
        box->setEnabled(false);
        return;
    }
    box->setEnabled(true);
    if (allowUnconditional) box->addItem(tr("unconditional"), QString());
    for (int c = 0; c < m->num_classes; ++c) {
        const QString name = c < int(m->class_names.size()) ? QString::fromStdString(m->class_names[c]) : QString::number(c);
        box->addItem(name, QString::number(c));
    }
    const int i = keep.isValid() ? box->findData(keep) : -1;
    // Default: the digit 7 (any class would do; unconditional is one entry away).
    const int fallback = std::min(box->count() - 1, (allowUnconditional ? 1 : 0) + 7);
    box->setCurrentIndex(i >= 0 ? i : fallback);
}

void MainWindow::updateModelDependent() {
    fillPrompt(m_prompt, true);
    fillPrompt(m_prompt2, true);
    const Mode md = mode();
    const bool two = md == Mode::Anagram || md == Mode::Hybrid;
    m_prompt2->setVisible(two);
    m_prompt2Label->setVisible(two);
    m_prompt2Label->setText(md == Mode::Hybrid ? tr("Near prompt") : tr("Second prompt"));
    const bool text = currentModel() && currentModel()->family == "deepfloyd-if";
    m_upscalerRow->setVisible(text);
    m_negative->setVisible(text);
    m_negativeLabel->setVisible(text);
    if (md == Mode::Anagram && m_prompt2->currentData().toString() == m_prompt->currentData().toString())
        m_prompt2->setCurrentIndex(std::min(m_prompt2->count() - 1, m_prompt2->currentIndex() + 3));
    const auto* m = currentModel();
    // A model without timesteps (the denoiser) leaves the field alone: its value is kept for the next.
    if (m && m->timesteps > 0) m_steps->setMaximum(std::max(2, m->timesteps));
    const int n = m ? int(timestepList().size()) : 1;
    m_iStart->setRange(0, std::max(0, n - 1));
    if (m_iStart->value() == 0 && (md == Mode::Sdedit)) m_iStart->setValue(std::min(10, n - 1));
    m_iStart->setEnabled(md != Mode::Explore && md != Mode::Anagram && md != Mode::Hybrid);
    m_tSlider->setRange(0, m ? std::max(0, m->timesteps - 1) : 0);
    if (m && m_tSlider->value() == 0) m_tSlider->setValue(m->timesteps / 2);
    m_guidance->setEnabled(m && (m->num_classes > 0 || m->family == "deepfloyd-if") && md != Mode::Denoise);
    if (m && m->family == "deepfloyd-if" && m_guidance->value() == 5.0) m_guidance->setValue(7.0);
    // Generate with a flow-matching model: its own Euler steps instead of the strided list.
    const bool euler = md == Mode::Generate && isFlow(m);
    m_eulerRow->setVisible(euler);
    if (isFlow(m)) {  // the course's count for the kind, unless the user chose another
        const int previous = m_eulerSteps->property("kindDefault").toInt();
        const int wanted = m->kind == ds::ModelKind::ClassFm ? 300 : 50;
        if (previous == 0 || m_eulerSteps->value() == previous) m_eulerSteps->setValue(wanted);
        m_eulerSteps->setProperty("kindDefault", wanted);
    }
    m_steps->setEnabled(!euler && md != Mode::Denoise);
    if (euler) m_iStart->setEnabled(false);
    if (md == Mode::Denoise) {
        m_iStart->setEnabled(false);
        m_prompt->setEnabled(false);
    }
    updateTimestepLabels();
}

std::vector<std::int64_t> MainWindow::timestepList() const {
    const auto* m = currentModel();
    if (!m || m->timesteps < 2) return {};
    const int n = std::min(m_steps->value(), m->timesteps);
    if (n == int(m->default_timesteps.size())) return m->default_timesteps;
    // n entries, evenly strided down to 0: stride floor((T-1)/(n-1)) gives the course's lists
    // (990..0 by 30, 297..0 by 9) for n = 34.
    const std::int64_t stride = std::max<std::int64_t>(1, (m->timesteps - 1) / (n - 1));
    std::vector<std::int64_t> list;
    for (int k = n - 1; k >= 0; --k) list.push_back(k * stride);
    return list;
}

void MainWindow::updateTimestepLabels() {
    const auto* m = currentModel();
    const auto list = timestepList();
    if (!m || list.empty()) {
        m_iStartLabel->setText(QString());
        return;
    }
    const int i = std::clamp(m_iStart->value(), 0, int(list.size()) - 1);
    const auto t = list[i];
    m_iStartLabel->setText(tr("i_start %1 → t = %2, ᾱ_t = %3").arg(i).arg(t).arg(m->alpha_bars[t], 0, 'f', 3));
    const int tt = std::clamp(m_tSlider->value(), 0, int(m->alpha_bars.size()) - 1);
    m_tLabel->setText(tr("t = %1, ᾱ_t = %2, √ᾱ_t = %3")
                          .arg(tt)
                          .arg(m->alpha_bars[tt], 0, 'f', 3)
                          .arg(std::sqrt(m->alpha_bars[tt]), 0, 'f', 3));
}

void MainWindow::setMode(Mode mode) { m_mode->setCurrentIndex(int(mode)); }
MainWindow::Mode MainWindow::mode() const { return Mode(std::max(0, m_mode->currentIndex())); }

void MainWindow::scheduleLive() { m_liveTimer.start(); }

// ---------------------------------------------------------------------------------------------
QString MainWindow::promptOf(const QComboBox* box) const {
    // Editable (IF): what is typed; otherwise the item's data (a class index).
    return box->isEditable() ? box->currentText() : box->currentData().toString();
}

ds::SamplerSettings MainWindow::samplerSettings() const {
    ds::SamplerSettings s;
    if (const auto* m = currentModel()) s.model = m->path.empty() ? m->id : m->path;
    s.prompt = promptOf(m_prompt).toStdString();
    if (const auto* m = currentModel(); m && m->family == "deepfloyd-if") s.negative_prompt = m_negative->text().toStdString();
    s.guidance = m_guidance->isEnabled() ? m_guidance->value() : -1;
    s.seed = std::uint64_t(m_seed->value());
    s.count = m_count->value();
    // The course's 34-entry list stays implicit (the engine's default), so recipes stay identical.
    if (const auto* m = currentModel(); m && m_steps->value() != int(m->default_timesteps.size()))
        s.timesteps = timestepList();
    return s;
}

ds::ImageInput MainWindow::canvasInput() const {
    ds::ImageInput in;
    in.image = fromQImage(m_canvas->image());
    return in;
}

PartARequest MainWindow::buildRequest() const {
    const auto s = samplerSettings();
    switch (mode()) {
        case Mode::Generate: {
            const auto* m = currentModel();
            if (m && m->family == "deepfloyd-if" && !m_upscaler->text().trimmed().isEmpty()) {
                // Stage I on the course's strided list length, then stage II to 256 px.
                ds::IfGenerateRequest r;
                r.weights = s.model;
                r.upscaler = m_upscaler->text().trimmed().toStdString();
                r.prompts = {s.prompt};
                r.negative_prompt = s.negative_prompt;
                r.count = s.count;
                r.steps = m_steps->value();
                r.guidance = s.guidance > 0 ? s.guidance : 7.0;
                r.seed = s.seed;
                return r;
            }
            ds::IterateRequest r;
            r.sampler = s;
            r.i_start = 0;
            if (isFlow(m)) r.flow_steps = m_eulerSteps->value();
            return r;
        }
        case Mode::Denoise:
            return m_denoise->request(s.model, s.seed, s.count, canvasInput());
        case Mode::Explore: {
            ds::NoiseExplorerRequest r;
            r.sampler = s;
            r.sampler.count = 1;
            r.input = canvasInput();
            r.t_list = {m_tSlider->value()};
            return r;
        }
        case Mode::Sdedit: {
            ds::SdeditRequest r;
            r.sampler = s;
            r.input = canvasInput();
            if (!m_strip->isChecked()) r.i_starts = {m_iStart->value()};
            return r;
        }
        case Mode::Inpaint: {
            ds::InpaintRequest r;
            r.sampler = s;
            r.input = canvasInput();
            r.mask.image = fromQImage(m_canvas->mask());
            r.mask.fit = ds::InputFit::Stretch;
            r.mask.invert = ds::Invert::No;
            r.grow = m_grow->value();
            r.feather = m_feather->value();
            r.i_start = m_iStart->value();
            return r;
        }
        case Mode::Anagram: {
            ds::AnagramRequest r;
            r.sampler = s;
            r.views = {"identity", m_view->currentText().toStdString()};
            r.prompts = {s.prompt, promptOf(m_prompt2).toStdString()};
            return r;
        }
        case Mode::Hybrid: {
            ds::HybridRequest r;
            r.sampler = s;
            r.prompt_far = s.prompt;
            r.prompt_near = promptOf(m_prompt2).toStdString();
            r.kernel = m_kernel->value() | 1;
            r.sigma = m_sigma->value();
            return r;
        }
    }
    return ds::IterateRequest{};
}

void MainWindow::run() {
    m_liveTimer.stop();
    m_compareWith = QImage();
    if (!currentModel()) return setStatus(tr("No model selected"));
    if (!m_seedLock->isChecked()) m_seed->setValue(QRandomGenerator::global()->bounded(1 << 30));
    if (mode() == Mode::Inpaint && m_canvas->maskIsEmpty())
        return setStatus(tr("Paint a mask first (Mask tool): white marks what to generate"));
    if (!modelFitsMode(*currentModel()))
        return setStatus(mode() == Mode::Denoise ? tr("Pick a denoiser (e.g. mnist-denoiser) for the Denoise mode")
                                                 : tr("A denoiser only runs in the Denoise mode: pick another model"));
    const Mode md = mode();
    const bool usesCanvas = md == Mode::Explore || md == Mode::Sdedit || md == Mode::Inpaint ||
                            (md == Mode::Denoise && !m_denoise->pureNoise());
    if (usesCanvas && isBlank(m_canvas->image()))  // a hint, not the engine's "the image is blank"
        return setStatus(md == Mode::Denoise
                             ? tr("Draw a digit on the canvas (or open an image) to denoise it, or tick Pure noise input")
                             : tr("Draw a digit on the canvas (or open, drop or paste an image): this mode starts from it"));
    PartARequest request = buildRequest();
    // Frames every N steps (Settings key previewInterval; 1 = every step) for large models.
    const int every = std::max(1, QSettings().value(QStringLiteral("previewInterval"), 1).toInt());
    std::visit([every](auto& r) { r.callbacks.preview_interval = every; }, request);
    m_viewBox->setVisible(mode() == Mode::Anagram);
    m_viewLive->clear();
    m_job = m_studio->runPartA(std::move(request), /*supersede=*/true);
    setStatus(tr("Running %1…").arg(m_mode->currentText()));
}

void MainWindow::stop() {
    m_liveTimer.stop();
    m_studio->cancel(ds::CancelMode::Now);
}

void MainWindow::finishCurrent() { m_studio->cancel(ds::CancelMode::AfterCurrent); }

QPixmap MainWindow::fitted(const QImage& image, const QLabel* view) const {
    if (image.isNull()) return {};
    const QSize box = view->size() * 0.96;
    // Integer nearest-neighbour upscaling keeps 28-px digits crisp.
    const int k = std::max(1, std::min(box.width() / std::max(1, image.width()), box.height() / std::max(1, image.height())));
    QImage up = image.scaled(image.size() * k, Qt::KeepAspectRatio, Qt::FastTransformation);
    if (up.width() > box.width() || up.height() > box.height())
        up = image.scaled(box, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return QPixmap::fromImage(up);
}

void MainWindow::showFrame(quint64 job, const QImage& xt, const QImage& x0, int step, int total, double t) {
    m_studio->worker()->frameConsumed();
    if (job != m_job) return;  // a superseded job
    m_xt->setPixmap(fitted(xt, m_xt));
    m_x0->setPixmap(fitted(x0, m_x0));
    m_xt->setToolTip(tr("step %1/%2, t = %3").arg(step).arg(total).arg(t));
    if (mode() == Mode::Denoise)
        m_xtCaption->setText(t < 0 ? tr("z = ε (pure noise)") : tr("z = x + σ ε, σ = %1").arg(t));
    else
        m_xtCaption->setText(t < 0 ? tr("x_t — step %1/%2, clean").arg(step).arg(total)
                                   : tr("x_t — step %1/%2, t = %3").arg(step).arg(total).arg(t));
}

void MainWindow::showFrameViews(quint64 job, const QStringList& names, const QList<QImage>& views) {
    if (job != m_job || views.isEmpty()) return;
    // The last view is the transformed one (the first is the identity in the GUI's anagrams).
    m_viewBox->setVisible(true);
    m_viewLive->setPixmap(fitted(views.last(), m_viewLive));
    QString view = names.last();
    view.remove(QStringLiteral("view "));
    m_viewCaption->setText(tr("x0 through %1").arg(view));
}

void MainWindow::showOutput(quint64 job, const PartAOutput& out) {
    if (job != m_job) return;
    m_last = out;
    m_lastFigure = out.figure;
    m_lastRecipe = out.recipe;
    m_figure->setPixmap(fitted(out.figure, m_figure));
    m_dirty = true;
    {  // compare choices: the model-size input, each result, each named panel
        const QSignalBlocker ba(m_compareA), bb(m_compareB);
        m_compareA->clear();
        m_compareB->clear();
        for (const QString& c : compareChoices()) {
            m_compareA->addItem(c);
            m_compareB->addItem(c);
        }
        QString a = QStringLiteral("input"), b = QStringLiteral("result 1");
        if (mode() == Mode::Anagram && out.panels.size() >= 2) {
            a = QStringLiteral("result 1");
            b = out.panels.last().first;
        } else if (mode() == Mode::Hybrid) {
            a = QStringLiteral("low-pass");
            b = QStringLiteral("high-pass");
        }
        m_compareA->setCurrentIndex(std::max(0, m_compareA->findText(a)));
        m_compareB->setCurrentIndex(std::max(0, m_compareB->findText(b)));
    }
    updateCompare();
    m_scrubber->setEnabled(!out.trajectoryXt.isEmpty());
    m_scrubber->blockSignals(true);
    m_scrubber->setRange(0, std::max(0, int(out.trajectoryXt.size()) - 1));
    m_scrubber->setValue(m_scrubber->maximum());
    m_scrubber->blockSignals(false);
    for (const auto& [name, img] : out.panels)
        if (name == QStringLiteral("mask used"))
            m_canvas->setUsedMask(img.convertToFormat(QImage::Format_Grayscale8)
                                      .scaled(m_canvas->image().size(), Qt::IgnoreAspectRatio, Qt::FastTransformation));
    if (mode() == Mode::Hybrid) showScrubbed(-1);
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(out.images.isEmpty() ? out.figure : out.images.first())),
                                     QString());
    item->setData(Qt::UserRole, out.figure);
    item->setData(Qt::UserRole + 1, out.recipe);
    item->setToolTip(m_mode->currentText());
    m_history->insertItem(0, item);
    while (m_history->count() > kHistoryLimit) delete m_history->takeItem(m_history->count() - 1);
    QString status = tr("Done in %1 s").arg(out.seconds, 0, 'f', 2);
    if (!m_compareWith.isNull()) {  // "re-run and compare"
        status = m_compareWith == out.figure ? tr("Re-run: identical pixels to the saved result")
                                             : tr("Re-run: the result DIFFERS from the saved one");
        m_compareWith = QImage();
    }
    if (!out.notes.isEmpty()) status += QStringLiteral(" — ") + out.notes.join(QStringLiteral("; "));
    setStatus(status);
}

void MainWindow::showScrubbed(int index) {
    if (index < 0) {  // hybrid viewing distance: blur the figure's result row by downscaling
        if (m_lastFigure.isNull()) return;
        const int d = m_distance->value();
        QImage img = m_lastFigure;
        if (d > 0) {
            const QSize small = img.size() / (1 + d);
            img = img.scaled(small, Qt::KeepAspectRatio, Qt::SmoothTransformation)
                      .scaled(m_lastFigure.size(), Qt::KeepAspectRatio, Qt::SmoothTransformation);
        }
        m_figure->setPixmap(fitted(img, m_figure));
        return;
    }
    const auto& frames = m_scrubX0->isChecked() ? m_last.trajectoryX0 : m_last.trajectoryXt;
    if (index >= frames.size()) return;
    m_xt->setPixmap(fitted(m_last.trajectoryXt[index], m_xt));
    m_x0->setPixmap(fitted(m_last.trajectoryX0[index], m_x0));
    m_xt->setToolTip(tr("frame %1, t = %2").arg(index + 1).arg(m_last.trajectoryT.value(index)));
    const double t = m_last.trajectoryT.value(index);
    m_xtCaption->setText(t < 0 ? tr("x_t — frame %1/%2, clean").arg(index + 1).arg(frames.size())
                               : tr("x_t — frame %1/%2, t = %3").arg(index + 1).arg(frames.size()).arg(t));
    if (index < m_last.trajectoryView.size()) m_viewLive->setPixmap(fitted(m_last.trajectoryView[index], m_viewLive));
}

void MainWindow::editSettings() {
    QDialog dialog(this);
    dialog.setWindowTitle(tr("Settings"));
    auto* form = new QFormLayout(&dialog);
    QSettings s;
    auto* threads = new QSpinBox(&dialog);
    threads->setRange(0, 256);
    threads->setSpecialValueText(tr("all cores"));
    threads->setValue(s.value(QStringLiteral("threads"), 0).toInt());
    auto* dtype = new QComboBox(&dialog);
    dtype->setObjectName(QStringLiteral("dtype"));
    for (const auto& d : ds::Engine::dtype_choices()) dtype->addItem(QString::fromStdString(d));
    dtype->setCurrentText(s.value(QStringLiteral("dtype"), QStringLiteral("fp32")).toString());
    auto* device = new QComboBox(&dialog);
    device->setObjectName(QStringLiteral("device"));
    for (const auto& d : ds::Engine::device_choices()) device->addItem(QString::fromStdString(d));
    device->setCurrentText(s.value(QStringLiteral("device"), QStringLiteral("cpu")).toString());
    auto* preview = new QSpinBox(&dialog);
    preview->setRange(1, 1000);
    preview->setValue(s.value(QStringLiteral("previewInterval"), 1).toInt());
    auto* folder = new QLineEdit(s.value(QStringLiteral("outputFolder"), QDir::homePath()).toString(), &dialog);
    form->addRow(tr("Threads per worker (next start)"), threads);
    form->addRow(tr("DeepFloyd IF dtype (next start)"), dtype);
    form->addRow(tr("DeepFloyd IF device (next start)"), device);
    auto* dtypeNote = new QLabel(&dialog);
    dtypeNote->setWordWrap(true);
    dtypeNote->setObjectName(QStringLiteral("dtypeNote"));
    auto updateNote = [dtypeNote, dtype, device]() {
        const QString d = dtype->currentText(), dev = device->currentText();
        auto note = QString::fromStdString(ds::Engine::dtype_warning(d.toStdString(), dev.toStdString()));
        if (d == QStringLiteral("fp32-w16"))
            note = tr("Weights kept in 16 bits (half the memory of fp32: IF-I-XL 8.6 GB instead of 17.2 GB), "
                      "arithmetic in fp32.");
        if (d == QStringLiteral("fp16") && dev == QStringLiteral("cpu"))
            note = tr("fp16 runs on a GPU only: pick a cuda device (a build against a CUDA LibTorch lists them), "
                      "or bf16 / fp32 on the CPU. Saved as is, the next start falls back to fp32 on the CPU.");
        dtypeNote->setText(note);
        dtypeNote->setVisible(!note.isEmpty());
    };
    updateNote();
    connect(dtype, &QComboBox::currentTextChanged, &dialog, updateNote);
    connect(device, &QComboBox::currentTextChanged, &dialog, updateNote);
    form->addRow(dtypeNote);
    form->addRow(tr("Preview a frame every N steps"), preview);
    form->addRow(tr("Output folder"), folder);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    if (dialog.exec() != QDialog::Accepted) return;
    s.setValue(QStringLiteral("threads"), threads->value());
    s.setValue(QStringLiteral("dtype"), dtype->currentText());
    s.setValue(QStringLiteral("device"), device->currentText());
    s.setValue(QStringLiteral("previewInterval"), preview->value());
    s.setValue(QStringLiteral("outputFolder"), folder->text());
    setStatus(tr("Settings saved (threads, dtype and device apply at the next start)"));
}

void MainWindow::exportStrip() {
    const auto& frames = m_scrubX0->isChecked() ? m_last.trajectoryX0 : m_last.trajectoryXt;
    if (frames.isEmpty()) return setStatus(tr("Run something first: there is no trajectory to export"));
    const QString f = QFileDialog::getSaveFileName(this, tr("Export trajectory strip"), QStringLiteral("trajectory.png"),
                                                   tr("PNG (*.png)"));
    if (f.isEmpty()) return;
    // About ten evenly spaced frames, the last one always included, one row.
    std::vector<ds::Image> tiles;
    const int n = int(frames.size()), every = std::max(1, n / 10);
    for (int i = 0; i < n; ++i)
        if (i % every == 0 || i == n - 1) tiles.push_back(fromQImage(frames[i]));
    try {
        ds::write_png(ds::make_grid(tiles, int(tiles.size()), 2, std::max(1, 96 / std::max(1, tiles[0].height))),
                      f.toStdString(), {{"ds.recipe", m_lastRecipe.toStdString()}});
        setStatus(tr("Wrote %1").arg(f));
    } catch (const std::exception& e) {
        setStatus(tr("Cannot write the strip: %1").arg(QString::fromUtf8(e.what())));
    }
}

void MainWindow::rerunAndCompare() {
    if (m_lastRecipe.isEmpty() || m_lastFigure.isNull()) return setStatus(tr("Nothing to re-run yet"));
    const QImage reference = m_lastFigure;
    if (!applyRecipe(m_lastRecipe)) return;
    run();
    m_compareWith = reference;
}

void MainWindow::exportGif() {
    const auto& frames = m_scrubX0->isChecked() ? m_last.trajectoryX0 : m_last.trajectoryXt;
    if (frames.isEmpty()) return setStatus(tr("Run something first: there is no trajectory to export"));
    QString filters = tr("Animated GIF (*.gif)");
    if (ds::video_export_available()) filters += tr(";;MP4 video (*.mp4)");
    filters += tr(";;AVI video, Motion-JPEG (*.avi)");
    const QString f = QFileDialog::getSaveFileName(this, tr("Export trajectory"), QStringLiteral("trajectory.gif"), filters);
    if (f.isEmpty()) return;
    // Frames enlarged to about 160 px, each with its frame number and timestep burned in above it.
    std::vector<ds::Image> imgs;
    const int n = int(frames.size());
    for (int i = 0; i < n; ++i) {
        const QImage& q = frames[i];
        const ds::Image big = fromQImage(q.scaled(q.size() * std::max(1, 160 / std::max(1, q.height()))));
        const double t = m_last.trajectoryT.value(i, -1);
        const std::string caption = "frame " + std::to_string(i + 1) + "/" + std::to_string(n) +
                                    (t >= 0 ? "  t=" + QString::number(t).toStdString() : std::string());
        imgs.push_back(ds::add_caption(big, caption));
    }
    try {
        ds::write_animation(imgs, f.toStdString(), 8, 150);  // .mp4/.avi: video at 12.5 fps
        setStatus(tr("Wrote %1").arg(f));
    } catch (const std::exception& e) {
        setStatus(tr("Cannot write the trajectory: %1").arg(QString::fromUtf8(e.what())));
    }
}

void MainWindow::saveResult() {
    if (m_lastFigure.isNull()) return setStatus(tr("Nothing to save yet"));
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("outputFolder"), QDir::homePath()).toString();
    const QString f = QFileDialog::getSaveFileName(this, tr("Save result"), dir + QStringLiteral("/result.png"),
                                                   tr("PNG (*.png)"));
    if (f.isEmpty()) return;
    try {
        ds::write_png(fromQImage(m_lastFigure), f.toStdString(), {{"ds.recipe", m_lastRecipe.toStdString()}});
        QJsonObject recipe = QJsonDocument::fromJson(m_lastRecipe.toUtf8()).object();
        recipe[QStringLiteral("output")] = QJsonObject{{QStringLiteral("file"), QFileInfo(f).fileName()},
                                                      {QStringLiteral("sha256"), QString::fromStdString(ds::sha256_file(f.toStdString()))}};
        QSaveFile side(QFileInfo(f).path() + QLatin1Char('/') + QFileInfo(f).completeBaseName() + QStringLiteral(".json"));
        if (side.open(QIODevice::WriteOnly)) {
            side.write(QJsonDocument(recipe).toJson());
            side.commit();
        }
        settings.setValue(QStringLiteral("outputFolder"), QFileInfo(f).path());
        setStatus(tr("Saved %1 with its recipe").arg(f));
    } catch (const std::exception& e) {
        setStatus(tr("Cannot save: %1").arg(QString::fromUtf8(e.what())));
    }
}

void MainWindow::openImage() {
    const QString f = QFileDialog::getOpenFileName(this, tr("Open image"), QString(),
                                                   tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.gif)"));
    if (f.isEmpty()) return;
    m_canvas->loadImage(f);
}

void MainWindow::openIfFolder() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("DeepFloyd IF stage I folder (diffusers format)"));
    if (!dir.isEmpty()) openModelFolder(dir);
}

bool MainWindow::openModelFolder(const QString& dir) {
    // Described (and validated) on the GUI thread: it only reads config files. A folder that
    // fails keeps the previous model selected.
    try {
        ds::EngineOptions o;
        o.threads = 1;
        ds::Engine probe(o);
        ds::ModelInfo info = probe.describe(dir.toStdString());
        addModel(info);
        setStatus(tr("Opened %1 — %2").arg(QString::fromStdString(info.id), QString::fromStdString(info.description)));
        return true;
    } catch (const std::exception& e) {
        setStatus(tr("Cannot open '%1': %2").arg(dir, QString::fromUtf8(e.what())));
        QMessageBox::warning(this, tr("Open model"), QString::fromUtf8(e.what()));
        return false;
    }
}

void MainWindow::openRecipe() {
    const QString f = QFileDialog::getOpenFileName(this, tr("Open recipe"), QString(), tr("Recipes (*.png *.json)"));
    if (!f.isEmpty()) loadRecipeFile(f);
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

bool MainWindow::applyRecipe(const QString& json, QString* error) {
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
    static const QHash<QString, Mode> modes = {{QStringLiteral("sample"), Mode::Generate},
                                               {QStringLiteral("iterate"), Mode::Generate},
                                               {QStringLiteral("explore"), Mode::Explore},
                                               {QStringLiteral("sdedit"), Mode::Sdedit},
                                               {QStringLiteral("inpaint"), Mode::Inpaint},
                                               {QStringLiteral("anagram"), Mode::Anagram},
                                               {QStringLiteral("hybrid"), Mode::Hybrid},
                                               {QStringLiteral("if-generate"), Mode::Generate},
                                               {QStringLiteral("denoise"), Mode::Denoise}};
    if (modes.contains(technique)) setMode(modes.value(technique));
    // IF text-to-image recipes name the stage I folder "weights" (and stage II "upscaler").
    const QString model = r.contains(QStringLiteral("model")) ? r.value(QStringLiteral("model")).toString()
                                                              : r.value(QStringLiteral("weights")).toString();
    m_upscaler->setText(r.value(QStringLiteral("upscaler")).toString());
    bool known = false;
    for (const auto& m : m_models) known |= QString::fromStdString(m.path) == model || QString::fromStdString(m.id) == model;
    if (!known && QFileInfo::exists(model + QStringLiteral("/unet/config.json"))) openModelFolder(model);
    for (int i = 0; i < m_model->count(); ++i)
        if (m_model->itemText(i) == model || QString::fromStdString(m_models[i].path) == model) m_model->setCurrentIndex(i);
    m_seed->setValue(int(r.value(QStringLiteral("seed")).toDouble()));
    m_seedLock->setChecked(true);
    if (r.contains(QStringLiteral("guidance"))) m_guidance->setValue(r.value(QStringLiteral("guidance")).toDouble());
    if (r.contains(QStringLiteral("count"))) m_count->setValue(r.value(QStringLiteral("count")).toInt());
    if (r.value(QStringLiteral("timesteps")).isArray())  // a strided list: its length
        m_steps->setValue(r.value(QStringLiteral("timesteps")).toArray().size());
    else if (r.contains(QStringLiteral("steps")))
        m_steps->setValue(r.value(QStringLiteral("steps")).toInt());
    auto setPrompt = [](QComboBox* box, const QString& p) {
        if (box->isEditable()) return box->setCurrentText(p);
        const int i = box->findData(p);
        if (i >= 0) box->setCurrentIndex(i);
    };
    if (r.contains(QStringLiteral("prompt"))) setPrompt(m_prompt, r.value(QStringLiteral("prompt")).toString());
    m_negative->setText(r.value(QStringLiteral("negative_prompt")).toString());
    if (r.contains(QStringLiteral("prompts"))) {
        const QJsonArray p = r.value(QStringLiteral("prompts")).toArray();
        if (p.size() > 0) setPrompt(m_prompt, p[0].toString());
        if (p.size() > 1) setPrompt(m_prompt2, p[1].toString());
        const QJsonArray v = r.value(QStringLiteral("views")).toArray();
        if (v.size() > 1) m_view->setCurrentText(v[1].toString());
    }
    if (r.contains(QStringLiteral("prompt_far"))) {
        setPrompt(m_prompt, r.value(QStringLiteral("prompt_far")).toString());
        setPrompt(m_prompt2, r.value(QStringLiteral("prompt_near")).toString());
        m_kernel->setValue(r.value(QStringLiteral("kernel")).toInt(33));
        m_sigma->setValue(r.value(QStringLiteral("sigma")).toDouble(2.0));
    }
    if (r.contains(QStringLiteral("i_start"))) m_iStart->setValue(r.value(QStringLiteral("i_start")).toInt());
    if (r.contains(QStringLiteral("i_starts"))) {
        const QJsonArray a = r.value(QStringLiteral("i_starts")).toArray();
        m_strip->setChecked(a.size() > 1);
        if (a.size() == 1) m_iStart->setValue(a[0].toInt());
    }
    if (r.contains(QStringLiteral("t_list")) && !r.value(QStringLiteral("t_list")).toArray().isEmpty())
        m_tSlider->setValue(r.value(QStringLiteral("t_list")).toArray()[0].toInt());
    if (technique == QStringLiteral("denoise")) m_denoise->applyRecipe(r);
    if (r.contains(QStringLiteral("flow_steps"))) m_eulerSteps->setValue(r.value(QStringLiteral("flow_steps")).toInt());
    if (r.contains(QStringLiteral("mask"))) {
        const QJsonObject m = r.value(QStringLiteral("mask")).toObject();
        m_grow->setValue(m.value(QStringLiteral("grow")).toInt());
        m_feather->setValue(m.value(QStringLiteral("feather")).toDouble());
    }
    setStatus(tr("Settings restored from the recipe (%1)").arg(technique));
    return true;
}

// ---------------------------------------------------------------------------------------------
void MainWindow::setBusy(bool busy) {
    m_stopButton->setEnabled(busy);
    m_finishButton->setEnabled(busy);
    if (!busy) m_progress->setValue(m_progress->maximum());
}

void MainWindow::setStatus(const QString& text) { m_status->setText(text); }

void MainWindow::showTab(int index) { m_tabs->setCurrentIndex(index); }

bool MainWindow::autosave() {
    if (!m_dirty) return false;
    saveWorkspace();
    m_dirty = false;
    return true;
}

QStringList MainWindow::compareChoices() const {
    QStringList names;
    for (const auto& [name, img] : m_last.panels)
        if (name == QStringLiteral("input")) names << name;
    for (int i = 0; i < m_last.images.size(); ++i) names << QStringLiteral("result %1").arg(i + 1);
    for (const auto& [name, img] : m_last.panels)
        if (name != QStringLiteral("input")) names << name;
    return names;
}

bool MainWindow::setCompare(const QString& a, const QString& b) {
    const int ia = m_compareA->findText(a), ib = m_compareB->findText(b);
    if (ia < 0 || ib < 0) return false;
    m_compareA->setCurrentIndex(ia);
    m_compareB->setCurrentIndex(ib);
    updateCompare();
    return true;
}

void MainWindow::setResultView(int index) {
    index = std::clamp(index, 0, 2);
    if (m_resultView->currentIndex() != index) return m_resultView->setCurrentIndex(index);  // re-enters
    m_resultStack->setCurrentIndex(index == 0 ? 0 : 1);
    m_compareRow->setVisible(index != 0);
    m_compare->setLayout(index == 2 ? CompareView::Layout::SideBySide : CompareView::Layout::Slider);
    updateCompare();
}

void MainWindow::updateCompare() {
    auto find = [this](const QString& name) -> QImage {
        if (name.startsWith(QStringLiteral("result "))) return m_last.images.value(name.mid(7).toInt() - 1);
        for (const auto& [n, img] : m_last.panels)
            if (n == name) return img;
        return {};
    };
    const QString a = m_compareA->currentText(), b = m_compareB->currentText();
    m_compare->setImages(find(a), a, find(b), b);
}

void MainWindow::saveWorkspace() const {
    QSettings s;
    s.setValue(QStringLiteral("workspace/mode"), m_mode->currentIndex());
    s.setValue(QStringLiteral("workspace/model"), m_model->currentText());
    s.setValue(QStringLiteral("workspace/prompt"), m_prompt->currentData());
    s.setValue(QStringLiteral("workspace/prompt2"), m_prompt2->currentData());
    s.setValue(QStringLiteral("workspace/negative"), m_negative->text());
    s.setValue(QStringLiteral("workspace/guidance"), m_guidance->value());
    s.setValue(QStringLiteral("workspace/seed"), m_seed->value());
    s.setValue(QStringLiteral("workspace/iStart"), m_iStart->value());
    s.setValue(QStringLiteral("workspace/eulerSteps"), m_eulerSteps->value());
    s.setValue(QStringLiteral("workspace/denoiseSigma"), m_denoise->sigma());
    s.setValue(QStringLiteral("workspace/denoiseSweep"), m_denoise->sweep());
    s.setValue(QStringLiteral("workspace/denoisePureNoise"), m_denoise->pureNoise());
    QDir().mkpath(workspaceDir());
    m_canvas->image().save(workspaceDir() + QStringLiteral("/canvas.png"));
    m_canvas->mask().save(workspaceDir() + QStringLiteral("/mask.png"));
    // The history strip: each result as a PNG carrying its recipe, newest first.
    QDir history(workspaceDir() + QStringLiteral("/history"));
    history.removeRecursively();
    QDir().mkpath(history.path());
    for (int i = 0; i < m_history->count(); ++i) {
        const auto* item = m_history->item(i);
        const QImage fig = item->data(Qt::UserRole).value<QImage>();
        const std::string recipe = item->data(Qt::UserRole + 1).toString().toStdString();
        try {
            ds::write_png(fromQImage(fig), history.filePath(QStringLiteral("%1.png").arg(i, 3, 10, QLatin1Char('0'))).toStdString(),
                          {{"ds.recipe", recipe}});
        } catch (const std::exception&) {
            // Losing a history thumbnail is not worth a dialog on quit.
        }
    }
}

void MainWindow::restoreWorkspace() {
    QSettings s;
    if (!s.contains(QStringLiteral("workspace/mode"))) return;
    QDir history(workspaceDir() + QStringLiteral("/history"));
    const auto files = history.entryList({QStringLiteral("*.png")}, QDir::Files, QDir::Name);
    for (const auto& f : files) {
        const QString path = history.filePath(f);
        QImage fig(path);
        if (fig.isNull()) continue;
        QString recipe;
        try {
            for (const auto& [k, v] : ds::read_png_text(path.toStdString()))
                if (k == "ds.recipe") recipe = QString::fromStdString(v);
        } catch (const std::exception&) {
            continue;
        }
        auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(fig)), QString());
        item->setData(Qt::UserRole, fig);
        item->setData(Qt::UserRole + 1, recipe);
        m_history->addItem(item);
    }
    const QImage canvas(workspaceDir() + QStringLiteral("/canvas.png"));
    const QImage mask(workspaceDir() + QStringLiteral("/mask.png"));
    if (!canvas.isNull()) m_canvas->setImage(canvas);
    if (!mask.isNull()) m_canvas->setMask(mask);
    m_mode->setCurrentIndex(s.value(QStringLiteral("workspace/mode")).toInt());
    m_guidance->setValue(s.value(QStringLiteral("workspace/guidance"), 5.0).toDouble());
    m_seed->setValue(s.value(QStringLiteral("workspace/seed")).toInt());
    m_negative->setText(s.value(QStringLiteral("workspace/negative")).toString());
    if (s.contains(QStringLiteral("workspace/eulerSteps"))) {  // the user's count, kept over the kind's default
        m_eulerSteps->setValue(s.value(QStringLiteral("workspace/eulerSteps")).toInt());
        m_eulerSteps->setProperty("kindDefault", -1);
    }
    m_denoise->setSigma(s.value(QStringLiteral("workspace/denoiseSigma"), m_denoise->sigma()).toDouble());
    m_denoise->setSweep(s.value(QStringLiteral("workspace/denoiseSweep"), false).toBool());
    m_denoise->setPureNoise(s.value(QStringLiteral("workspace/denoisePureNoise"), false).toBool());
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
