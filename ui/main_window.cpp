#include "ui/main_window.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QRandomGenerator>
#include <QShortcut>
#include <QSpinBox>
#include <QStatusBar>
#include <QVBoxLayout>

#include "ui/bridge/engine_controller.h"

namespace ui {

namespace {
QLabel* makeView(const QString& title, QWidget* parent) {
    auto* label = new QLabel(parent);
    label->setMinimumSize(320, 320);
    label->setAlignment(Qt::AlignCenter);
    label->setStyleSheet(QStringLiteral("background:#202124;color:#bbb;border-radius:6px;"));
    label->setText(title);
    return label;
}
}  // namespace

MainWindow::MainWindow(EngineController* controller, QWidget* parent)
    : QMainWindow(parent), m_controller(controller) {
    setWindowTitle(QStringLiteral("Diffusion Studio"));
    auto* central = new QWidget(this);
    auto* root = new QHBoxLayout(central);

    auto* controls = new QGroupBox(tr("Generate"), central);
    auto* form = new QFormLayout(controls);
    m_model = new QComboBox(controls);
    m_digit = new QComboBox(controls);
    m_guidance = new QDoubleSpinBox(controls);
    m_guidance->setRange(0, 20);
    m_guidance->setSingleStep(0.5);
    m_guidance->setValue(5.0);
    m_steps = new QSpinBox(controls);
    m_steps->setRange(0, 1000);
    m_steps->setSpecialValueText(tr("model default"));
    m_seed = new QSpinBox(controls);
    m_seed->setRange(0, 1 << 30);
    auto* dice = new QPushButton(tr("Randomise"), controls);
    auto* seedRow = new QHBoxLayout;
    seedRow->addWidget(m_seed, 1);
    seedRow->addWidget(dice);
    form->addRow(tr("Model"), m_model);
    form->addRow(tr("Prompt (class)"), m_digit);
    form->addRow(tr("Guidance"), m_guidance);
    form->addRow(tr("Steps"), m_steps);
    form->addRow(tr("Seed"), seedRow);
    m_runButton = new QPushButton(tr("Run  (Ctrl+Enter)"), controls);
    m_stopButton = new QPushButton(tr("Stop  (Esc)"), controls);
    m_stopButton->setEnabled(false);
    form->addRow(m_runButton);
    form->addRow(m_stopButton);
    m_progress = new QProgressBar(controls);
    form->addRow(m_progress);
    controls->setMaximumWidth(320);
    root->addWidget(controls);

    m_xt = makeView(tr("x_t"), central);
    m_x0 = makeView(tr("x̂₀ estimate"), central);
    root->addWidget(m_xt, 1);
    root->addWidget(m_x0, 1);
    setCentralWidget(central);
    m_status = new QLabel(this);
    statusBar()->addWidget(m_status, 1);

    connect(m_runButton, &QPushButton::clicked, this, &MainWindow::run);
    connect(m_stopButton, &QPushButton::clicked, this, &MainWindow::stop);
    connect(dice, &QPushButton::clicked, this,
            [this] { m_seed->setValue(QRandomGenerator::global()->bounded(1 << 30)); });
    connect(m_model, &QComboBox::currentIndexChanged, this, &MainWindow::updateClassPicker);
    new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this, [this] { run(); });
    new QShortcut(QKeySequence(Qt::Key_Escape), this, [this] { stop(); });

    auto* worker = m_controller->worker();
    connect(worker, &EngineWorker::frameReady, this, &MainWindow::showFrame);
    connect(worker, &EngineWorker::sampleFinished, this, [this](const QImage& grid, double s) {
        m_x0->setPixmap(scaled(grid));
        m_status->setText(tr("Done in %1 s").arg(s, 0, 'f', 2));
    });
    connect(worker, &EngineWorker::failed, this,
            [this](const QString& msg) { m_status->setText(tr("Error: %1").arg(msg)); });
    connect(worker, &EngineWorker::cancelled, this, [this] { m_status->setText(tr("Stopped")); });
    connect(m_controller, &EngineController::busyChanged, this, &MainWindow::setBusy);
}

void MainWindow::populateModels(const std::vector<ds::ModelInfo>& models) {
    m_models.clear();
    m_model->clear();
    for (const auto& m : models) {
        if (m.kind == ds::ModelKind::Classifier) continue;
        m_models.push_back(m);
        m_model->addItem(QString::fromStdString(m.id));
    }
    if (m_models.empty()) m_status->setText(tr("No bundled models found"));
    updateClassPicker();
}

void MainWindow::updateClassPicker() {
    m_digit->clear();
    const int i = m_model->currentIndex();
    const bool cls = i >= 0 && i < int(m_models.size()) &&
                     (m_models[i].kind == ds::ModelKind::ClassDdpm || m_models[i].kind == ds::ModelKind::ClassFm);
    m_digit->setEnabled(cls);
    m_guidance->setEnabled(cls);
    if (!cls) {
        m_digit->addItem(tr("(unconditional)"));
        return;
    }
    m_digit->addItem(tr("every digit ×4"), -2);
    m_digit->addItem(tr("unconditional"), -1);
    for (int d = 0; d < m_models[i].num_classes; ++d) m_digit->addItem(QString::number(d), d);
}

void MainWindow::run() {
    if (m_controller->busy()) m_controller->cancel();  // latest request wins
    const int i = m_model->currentIndex();
    if (i < 0 || i >= int(m_models.size())) return;
    ds::SampleRequest r;
    r.model = m_models[i].id;
    r.guidance = m_guidance->value();
    r.steps = m_steps->value();
    r.seed = static_cast<std::uint64_t>(m_seed->value());
    const int digit = m_digit->currentData().isValid() ? m_digit->currentData().toInt() : -3;
    if (digit == -2) r.per_class = 4;
    else if (digit >= -1) r.labels.assign(10, digit);
    else r.count = 16;
    m_status->setText(tr("Sampling…"));
    m_controller->sample(std::move(r));
}

void MainWindow::stop() { m_controller->cancel(ds::CancelMode::Now); }

QPixmap MainWindow::scaled(const QImage& image) const {
    return QPixmap::fromImage(image).scaled(m_xt->size() * 0.95, Qt::KeepAspectRatio, Qt::FastTransformation);
}

void MainWindow::showFrame(const QImage& xt, const QImage& x0, int step, int total) {
    m_xt->setPixmap(scaled(xt));
    m_x0->setPixmap(scaled(x0));
    m_progress->setMaximum(total);
    m_progress->setValue(step);
    m_controller->worker()->frameConsumed();
}

void MainWindow::setBusy(bool busy) {
    m_stopButton->setEnabled(busy);
    if (!busy) m_progress->setValue(m_progress->maximum());
}

}  // namespace ui
