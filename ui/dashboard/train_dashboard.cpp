#include "ui/dashboard/train_dashboard.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QSignalBlocker>
#include <QStackedWidget>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>

#include "core/engine/engine.h"
#include "ui/bridge/engine_controller.h"
#include "ui/canvas/compare_view.h"
#include "ui/dashboard/loss_chart.h"

namespace ui {

namespace {
const char* kKinds[] = {"class-ddpm", "time-ddpm", "class-fm", "time-fm", "denoiser"};
}

TrainDashboard::TrainDashboard(EngineController* controller, QWidget* parent)
    : QWidget(parent), m_controller(controller) {
    auto* root = new QHBoxLayout(this);
    auto* box = new QGroupBox(tr("Training run"), this);
    auto* form = new QFormLayout(box);
    m_kind = new QComboBox(box);
    m_kind->setObjectName(QStringLiteral("kind"));
    for (const char* k : kKinds) m_kind->addItem(QString::fromLatin1(k));
    m_dataset = new QComboBox(box);
    m_dataset->setEditable(true);
    m_dataset->addItems({QStringLiteral("mnist"), QStringLiteral("fashion-mnist")});
    m_dataset->setToolTip(tr("mnist, fashion-mnist, or a folder holding IDX files"));
    auto spin = [&](int lo, int hi, const QString& special) {
        auto* s = new QSpinBox(box);
        s->setRange(lo, hi);
        s->setSpecialValueText(special);
        return s;
    };
    m_epochs = spin(0, 1000, tr("course default"));
    m_batch = spin(0, 4096, tr("course default"));
    m_hidden = spin(0, 512, tr("course default"));
    m_limit = spin(0, 60000, tr("all images"));
    m_seed = spin(0, 1 << 30, QString());
    m_workers = spin(1, 64, QString());
    m_workers->setObjectName(QStringLiteral("workers"));
    m_workers->setToolTip(tr("Data-parallel training: this window trains as rank 0 and starts the other "
                             "workers as dstudio processes; the batch is split over them and their "
                             "gradients averaged (same result as one process). Each uses the threads "
                             "set in Settings. Logs: <run folder>/workers."));
    m_epochs->setObjectName(QStringLiteral("epochs"));
    m_batch->setObjectName(QStringLiteral("batch"));
    m_limit->setObjectName(QStringLiteral("limit"));
    m_hidden->setObjectName(QStringLiteral("hidden"));
    auto real = [&](const char* name, int decimals, double lo, double hi, double step, double value) {
        auto* s = new QDoubleSpinBox(box);
        s->setObjectName(QString::fromLatin1(name));
        s->setDecimals(decimals);
        s->setRange(lo, hi);
        s->setSingleStep(step);
        s->setValue(value);
        return s;
    };
    m_lr = real("lr", 5, 0, 1, 1e-4, 0);
    m_lr->setSpecialValueText(tr("course default"));
    m_ema = real("ema", 4, 0, 0.9999, 0.001, 0);
    m_ema->setSpecialValueText(tr("off"));
    m_ema->setToolTip(tr("Decay of a moving average of the weights (e.g. 0.999). Grids, epoch "
                         "snapshots and sampling use the average. Off keeps a resumed run's setting."));
    m_precision = new QComboBox(box);
    m_precision->setObjectName(QStringLiteral("precision"));
    m_precision->addItems({QStringLiteral("fp32"), QStringLiteral("bf16")});
    m_precision->setToolTip(tr("bf16: convolutions and matrix products in bfloat16 (weights and optimizer "
                               "stay fp32) - about 1.4x faster on CPUs with AVX512-BF16, slower elsewhere"));
    // The objective options of `dstudio train` (course §3.3-3.6); the rows a model kind does not
    // use are disabled.
    m_sigma = real("sigma", 2, 0, 10, 0.05, 0.5);
    m_sigma->setToolTip(tr("Denoiser: the noise level of its training inputs z = x + sigma * eps (course: 0.5)"));
    m_pureNoise = new QCheckBox(tr("Pure noise input (learns the mean digit)"), box);
    m_pureNoise->setObjectName(QStringLiteral("pureNoise"));
    m_lrDecay = new QComboBox(box);
    m_lrDecay->setObjectName(QStringLiteral("lrDecay"));
    m_lrDecay->addItems({tr("course default"), tr("on"), tr("off")});
    m_lrDecay->setToolTip(tr("ExponentialLR gamma = 0.1^(1/epochs) per epoch; the course default is on except "
                             "for the denoiser. Off is the course's \"remove the scheduler\" experiment."));
    m_pUncond = real("pUncond", 2, 0, 1, 0.05, 0.1);
    m_pUncond->setToolTip(tr("Class models: how often the class is dropped in training, so CFG has an "
                             "unconditional model (course: 0.1)"));
    m_grids = new QCheckBox(tr("Sample grid after every epoch"), box);
    m_grids->setObjectName(QStringLiteral("grids"));
    m_grids->setChecked(true);
    m_out = new QLineEdit(QDir::homePath() + QStringLiteral("/diffusion-studio-runs/run"), box);
    auto* browse = new QToolButton(box);
    browse->setText(tr("…"));
    auto* outRow = new QHBoxLayout;
    outRow->addWidget(m_out, 1);
    outRow->addWidget(browse);
    m_resume = new QCheckBox(tr("Resume the run in this folder"), box);
    m_resume->setObjectName(QStringLiteral("resume"));
    form->addRow(tr("Model"), m_kind);
    form->addRow(tr("Dataset"), m_dataset);
    form->addRow(tr("Epochs"), m_epochs);
    form->addRow(tr("Batch"), m_batch);
    form->addRow(tr("Learning rate"), m_lr);
    form->addRow(tr("Width D"), m_hidden);
    form->addRow(tr("Weight EMA"), m_ema);
    form->addRow(tr("Precision"), m_precision);
    form->addRow(tr("LR decay"), m_lrDecay);
    form->addRow(tr("Noise sigma"), m_sigma);
    form->addRow(QString(), m_pureNoise);
    form->addRow(tr("Class dropout"), m_pUncond);
    form->addRow(QString(), m_grids);
    connect(m_kind, &QComboBox::currentTextChanged, this, [this] { updateObjectiveRows(); });
    connect(m_pureNoise, &QCheckBox::toggled, this, [this] { updateObjectiveRows(); });
    updateObjectiveRows();
    form->addRow(tr("Seed"), m_seed);
    form->addRow(tr("Workers"), m_workers);
    form->addRow(tr("Images"), m_limit);
    form->addRow(tr("Output folder"), outRow);
    form->addRow(m_resume);
    m_start = new QPushButton(tr("Start training"), box);
    m_stop = new QPushButton(tr("Stop after this epoch"), box);
    m_stopNow = new QPushButton(tr("Stop now (saves)"), box);
    m_open = new QPushButton(tr("Open this checkpoint in the studio"), box);
    m_stop->setEnabled(false);
    m_stopNow->setEnabled(false);
    form->addRow(m_start);
    form->addRow(m_stop);
    form->addRow(m_stopNow);
    form->addRow(m_open);
    box->setMaximumWidth(380);
    root->addWidget(box);

    auto* right = new QVBoxLayout;
    m_chart = new LossChart(this);
    m_logScale = new QCheckBox(tr("Log scale"), this);
    m_logScale->setChecked(true);
    m_progress = new QProgressBar(this);
    m_stats = new QLabel(tr("Not running"), this);
    m_stats->setObjectName(QStringLiteral("trainStats"));
    m_log = new QLabel(this);
    m_log->setObjectName(QStringLiteral("trainLog"));
    m_log->setWordWrap(true);
    auto* statsRow = new QHBoxLayout;
    statsRow->addWidget(m_stats, 1);
    statsRow->addWidget(m_logScale);
    right->addWidget(m_chart, 3);
    right->addLayout(statsRow);
    right->addWidget(m_progress);
    m_grid = new QLabel(tr("Sample grids from fixed noise appear here after each epoch"), this);
    m_grid->setAlignment(Qt::AlignCenter);
    m_grid->setMinimumHeight(200);
    m_grid->setStyleSheet(QStringLiteral("background:#202124;color:#9aa0a6;border-radius:6px;"));
    m_epochSlider = new QSlider(Qt::Horizontal, this);
    m_epochSlider->setEnabled(false);
    m_epochLabel = new QLabel(this);
    m_compare = new CompareView(this);
    m_compare->setLayout(CompareView::Layout::SideBySide);
    m_gridStack = new QStackedWidget(this);
    m_gridStack->addWidget(m_grid);
    m_gridStack->addWidget(m_compare);
    m_compareEpoch = new QComboBox(this);
    m_compareEpoch->setObjectName(QStringLiteral("compareEpoch"));
    m_compareEpoch->setToolTip(tr("Show another epoch's grid next to the selected one"));
    m_compareEpoch->addItem(tr("no comparison"));
    auto* epochRow = new QHBoxLayout;
    epochRow->addWidget(new QLabel(tr("Epoch"), this));
    epochRow->addWidget(m_epochSlider, 1);
    epochRow->addWidget(m_epochLabel);
    epochRow->addWidget(new QLabel(tr("Compare with"), this));
    epochRow->addWidget(m_compareEpoch);
    right->addWidget(m_gridStack, 2);
    right->addLayout(epochRow);
    right->addWidget(m_log);
    root->addLayout(right, 1);

    connect(browse, &QToolButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("Output folder"), m_out->text());
        if (!d.isEmpty()) setOutputFolder(d);
    });
    connect(m_start, &QPushButton::clicked, this, &TrainDashboard::start);
    connect(m_stop, &QPushButton::clicked, this, &TrainDashboard::stopAfterEpoch);
    connect(m_stopNow, &QPushButton::clicked, this, &TrainDashboard::stopNow);
    connect(m_open, &QPushButton::clicked, this, &TrainDashboard::openCheckpoint);
    connect(m_logScale, &QCheckBox::toggled, m_chart, &LossChart::setLogScale);
    connect(m_epochSlider, &QSlider::valueChanged, this, &TrainDashboard::showEpoch);
    connect(m_compareEpoch, &QComboBox::currentIndexChanged, this,
            [this] { showEpoch(m_epochSlider->value()); });
    connect(m_out, &QLineEdit::editingFinished, this, [this] { setOutputFolder(m_out->text()); });

    auto* w = m_controller->worker();
    connect(w, &EngineWorker::progress, this, &TrainDashboard::onProgress);
    connect(w, &EngineWorker::logMessage, this, [this](quint64 job, const QString& m) {
        if (job == m_job) m_log->setText(m);
    });
    connect(w, &EngineWorker::trainFinished, this, [this](quint64 job, int epochs, const QString& ckpt) {
        if (job != m_job) return;
        m_log->setText(tr("Finished %1 epochs; checkpoint %2").arg(epochs).arg(ckpt));
        m_stats->setText(m_statsText + tr("  (finished)"));
        m_resume->setChecked(true);  // the folder holds a run now: more epochs continue it
        refreshEpochs();
    });
    connect(w, &EngineWorker::failed, this, [this](quint64 job, const QString& msg) {
        if (job != m_job) return;
        m_log->setText(tr("Training failed: %1").arg(msg));
        m_stats->setText(m_statsText.isEmpty() ? tr("(failed)") : m_statsText + tr("  (failed)"));
    });
    connect(w, &EngineWorker::cancelled, this, [this](quint64 job) {
        if (job != m_job) return;
        m_resume->setChecked(true);
        m_stats->setText(m_statsText + tr("  (stopped; the checkpoint is saved, Resume continues)"));
        refreshEpochs();
    });
    connect(m_controller, &EngineController::busyChanged, this, &TrainDashboard::setRunning);
}

void TrainDashboard::setOutputFolder(const QString& dir) {
    m_out->setText(dir);
    refreshEpochs();
    loadMetrics();
}

QString TrainDashboard::outputFolder() const { return m_out->text(); }

int TrainDashboard::lossPoints() const { return m_chart->rawPoints(); }

ds::TrainRequest TrainDashboard::request() const {
    ds::TrainRequest r;
    r.kind = ds::parse_model_kind(m_kind->currentText().toStdString());
    r.dataset = m_dataset->currentText().toStdString();
    r.out_dir = m_out->text().toStdString();
    r.epochs = m_epochs->value();
    r.batch_size = m_batch->value();
    r.lr = m_lr->value();
    r.hidden = m_hidden->value();
    r.seed = std::uint64_t(m_seed->value());
    r.limit = m_limit->value();
    r.resume = m_resume->isChecked();
    r.ema = m_ema->value() > 0 ? m_ema->value() : (r.resume ? -1 : 0);
    r.precision = m_precision->currentText().toStdString();
    r.lr_decay = m_lrDecay->currentIndex() == 0 ? -1 : m_lrDecay->currentIndex() == 1 ? 1 : 0;
    r.sigma = m_sigma->value();
    r.pure_noise = m_pureNoise->isChecked();
    r.p_uncond = m_pUncond->value();
    r.epoch_grids = m_grids->isChecked() ? 1 : 0;
    r.nproc = m_workers->value();
    return r;
}

void TrainDashboard::updateObjectiveRows() {
    const QString kind = m_kind->currentText();
    const bool denoiser = kind == QStringLiteral("denoiser");
    const bool classes = kind.startsWith(QStringLiteral("class-"));
    m_sigma->setEnabled(denoiser && !m_pureNoise->isChecked());
    m_pureNoise->setEnabled(denoiser);
    m_pUncond->setEnabled(classes);
}

void TrainDashboard::start() {
    if (m_controller->busy()) return;
    if (m_out->text().trimmed().isEmpty()) return m_log->setText(tr("Choose an output folder first"));
    // A resumed run keeps its curve (the steps it redoes replace theirs); a new one starts clean,
    // with nothing of the previous run left on screen.
    if (m_resume->isChecked()) {
        loadChart();
    } else {
        m_chart->clear();
        m_epochFiles.clear();
        m_grid->clear();
        m_grid->setText(tr("the sample grid of each finished epoch appears here"));
        m_epochLabel->clear();
        m_epochSlider->setEnabled(false);
        m_progress->setValue(0);
    }
    m_statsText.clear();
    m_stats->clear();
    m_lastEpoch = 0;
    m_log->setText(tr("Starting…"));
    ds::TrainRequest r;
    try {
        r = request();
    } catch (const std::exception& e) {
        return m_log->setText(QString::fromUtf8(e.what()));
    }
    m_job = m_controller->train(std::move(r));
}

void TrainDashboard::stopAfterEpoch() {
    m_controller->cancel(ds::CancelMode::AfterCurrent);
    m_log->setText(tr("Stopping after this epoch (a checkpoint will be saved)…"));
}

void TrainDashboard::stopNow() { m_controller->cancel(ds::CancelMode::Now); }

void TrainDashboard::setRunning(bool running) {
    m_start->setEnabled(!running);
    m_stop->setEnabled(running);
    m_stopNow->setEnabled(running);
    // How it ended (finished, stopped, failed) is said by the job's own signal.
}

void TrainDashboard::onProgress(quint64 job, const ds::ProgressEvent& e) {
    if (job != m_job || e.phase != "train") return;
    m_chart->addLoss(double(e.step), e.loss);
    m_progress->setMaximum(int(e.total));
    m_progress->setValue(int(e.step));
    m_statsText = tr("epoch %1/%2 · step %3/%4 · loss %5 · lr %6 · %7 img/s · ETA %8")
                         .arg(e.epoch)
                         .arg(e.epochs)
                         .arg(e.step)
                         .arg(e.total)
                         .arg(e.loss, 0, 'f', 4)
                         .arg(e.lr, 0, 'g', 3)
                         .arg(e.items_per_sec, 0, 'f', 0)
                         .arg(e.eta_seconds >= 0 ? QStringLiteral("%1:%2")
                                                       .arg(int(e.eta_seconds) / 60)
                                                       .arg(int(e.eta_seconds) % 60, 2, 10, QLatin1Char('0'))
                                                 : QStringLiteral("?"));
    m_stats->setText(m_statsText);
    // The last step of an epoch: the trainer now writes the checkpoint and, with grids on, samples
    // the epoch's fixed-noise grid, which takes a while with no step to show.
    const qint64 perEpoch = e.epochs > 0 ? e.total / e.epochs : 0;
    if (perEpoch > 0 && e.step % perEpoch == 0)
        m_log->setText(m_grids->isChecked() ? tr("Epoch %1 done: saving the checkpoint and sampling its grid (fixed noise)…").arg(e.epoch)
                                            : tr("Epoch %1 done: saving the checkpoint…").arg(e.epoch));
    if (e.epoch != m_lastEpoch) {  // a new epoch began: the previous one's grid exists now
        m_lastEpoch = e.epoch;
        refreshEpochs();
    }
}

void TrainDashboard::loadMetrics() {
    // An existing run (not the one training now): its recipe fills the form, its metrics.jsonl
    // the chart, so "Resume" continues it as it was started.
    if (m_controller->busy()) return;
    QFile recipe(m_out->text() + QStringLiteral("/recipe.json"));
    if (recipe.open(QIODevice::ReadOnly)) {
        const QJsonObject r = QJsonDocument::fromJson(recipe.readAll()).object();
        const int k = m_kind->findText(r.value(QStringLiteral("kind")).toString());
        if (k >= 0) m_kind->setCurrentIndex(k);
        m_dataset->setCurrentText(r.value(QStringLiteral("dataset")).toString(m_dataset->currentText()));
        m_epochs->setValue(r.value(QStringLiteral("epochs")).toInt());
        m_seed->setValue(r.value(QStringLiteral("seed")).toInt());
        m_ema->setValue(r.value(QStringLiteral("ema")).toDouble());
        const int p = m_precision->findText(r.value(QStringLiteral("precision")).toString(QStringLiteral("fp32")));
        m_precision->setCurrentIndex(p >= 0 ? p : 0);
        m_batch->setValue(r.value(QStringLiteral("batch_size")).toInt());
        m_lr->setValue(r.value(QStringLiteral("lr")).toDouble());
        m_hidden->setValue(r.value(QStringLiteral("hidden")).toInt());
        m_limit->setValue(r.value(QStringLiteral("limit")).toInt());
        m_sigma->setValue(r.value(QStringLiteral("sigma")).toDouble(0.5));
        m_pureNoise->setChecked(r.value(QStringLiteral("pure_noise")).toBool());
        m_pUncond->setValue(r.value(QStringLiteral("p_uncond")).toDouble(0.1));
        const int decay = r.value(QStringLiteral("lr_decay")).toInt(-1);
        m_lrDecay->setCurrentIndex(decay < 0 ? 0 : decay == 1 ? 1 : 2);
        m_grids->setChecked(r.value(QStringLiteral("epoch_grids")).toBool(true));
        m_resume->setChecked(true);
    }
    loadChart();
}

void TrainDashboard::loadChart() {
    m_chart->clear();
    QFile f(m_out->text() + QStringLiteral("/metrics.jsonl"));
    if (!f.open(QIODevice::ReadOnly)) return;
    while (!f.atEnd()) {
        const QJsonObject o = QJsonDocument::fromJson(f.readLine()).object();
        if (o.contains(QStringLiteral("loss")))
            m_chart->addLoss(o.value(QStringLiteral("step")).toDouble(), o.value(QStringLiteral("loss")).toDouble());
    }
    m_chart->flushNow();
    m_stats->setText(tr("%1: %2 logged steps").arg(QFileInfo(m_out->text()).fileName()).arg(m_chart->rawPoints()));
}

void TrainDashboard::refreshEpochs() {
    QDir dir(m_out->text() + QStringLiteral("/samples"));
    m_epochFiles = dir.entryList({QStringLiteral("epoch_*.png")}, QDir::Files, QDir::Name);
    for (auto& f : m_epochFiles) f = dir.filePath(f);
    m_epochSlider->setEnabled(!m_epochFiles.isEmpty());
    {  // the comparison choices follow the epochs on disk, keeping the chosen one
        const QString chosen = m_compareEpoch->currentIndex() > 0 ? m_compareEpoch->currentText() : QString();
        QSignalBlocker block(m_compareEpoch);
        m_compareEpoch->clear();
        m_compareEpoch->addItem(tr("no comparison"));
        for (const auto& f : m_epochFiles) m_compareEpoch->addItem(QFileInfo(f).completeBaseName());
        m_compareEpoch->setCurrentIndex(std::max(0, m_compareEpoch->findText(chosen)));
    }
    m_epochSlider->setRange(0, std::max(0, int(m_epochFiles.size()) - 1));
    m_epochSlider->setValue(m_epochSlider->maximum());
    showEpoch(m_epochSlider->value());
}

void TrainDashboard::showEpoch(int index) {
    if (index < 0 || index >= m_epochFiles.size()) return;
    QImage img(m_epochFiles[index]);
    if (img.isNull()) return;
    const QString name = QFileInfo(m_epochFiles[index]).completeBaseName();
    m_epochLabel->setText(name);
    const int other = m_compareEpoch->currentIndex() - 1;
    if (other >= 0 && other < m_epochFiles.size()) {
        m_compare->setImages(img, name, QImage(m_epochFiles[other]), m_compareEpoch->currentText());
        m_gridStack->setCurrentWidget(m_compare);
        return;
    }
    m_gridStack->setCurrentWidget(m_grid);
    const int k = std::max(1, std::min(m_grid->width() / std::max(1, img.width()), m_grid->height() / std::max(1, img.height())));
    m_grid->setPixmap(QPixmap::fromImage(img.scaled(img.size() * k)));
}

void TrainDashboard::openCheckpoint() {
    try {
        ds::ModelInfo info = ds::describe_model(m_out->text().toStdString());  // reads a header
        info.id = QFileInfo(m_out->text()).fileName().toStdString();
        Q_EMIT openModelRequested(info);
        m_log->setText(tr("Opened %1 in the studio").arg(QString::fromStdString(info.path)));
    } catch (const std::exception& e) {
        m_log->setText(tr("Cannot open the checkpoint: %1").arg(QString::fromUtf8(e.what())));
    }
}

}  // namespace ui
