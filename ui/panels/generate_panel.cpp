#include "ui/panels/generate_panel.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>

namespace ui {

namespace {
QWidget* row(QWidget* parent, const QString& label, QWidget* field, QWidget* extra = nullptr) {
    auto* w = new QWidget(parent);
    auto* h = new QHBoxLayout(w);
    h->setContentsMargins(0, 0, 0, 0);
    h->addWidget(new QLabel(label, w));
    h->addWidget(field, 1);
    if (extra) h->addWidget(extra);
    return w;
}
}  // namespace

bool GeneratePanel::isFlow(const ds::ModelInfo* m) {
    return m && m->family == "mnist" && (m->kind == ds::ModelKind::ClassFm || m->kind == ds::ModelKind::TimeFm);
}

GeneratePanel::GeneratePanel(QWidget* parent) : ModePanel(parent) {
    auto* col = new QVBoxLayout(this);
    col->setContentsMargins(0, 0, 0, 0);
    auto* info = new QLabel(tr("Samples from pure noise: the prompt, guidance and seed decide what appears."), this);
    info->setWordWrap(true);
    col->addWidget(info);
    // DeepFloyd IF only: upscale the 64 px stage I result with a stage II folder (256 px).
    m_upscaler = new QLineEdit(this);
    m_upscaler->setObjectName(QStringLiteral("upscalerFolder"));
    m_upscaler->setPlaceholderText(tr("(none: 64 px only)"));
    m_upscaler->setToolTip(tr("A DeepFloyd IF stage II folder (e.g. IF-II-L-v1.0): the stage I images are "
                              "upscaled to 256 px (guidance 4, noise level 250)"));
    auto* browse = new QToolButton(this);
    browse->setText(tr("…"));
    connect(browse, &QToolButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("DeepFloyd IF stage II folder"));
        if (!d.isEmpty()) m_upscaler->setText(d);
    });
    m_upscaleSteps = new QSpinBox(this);
    m_upscaleSteps->setObjectName(QStringLiteral("upscaleSteps"));
    m_upscaleSteps->setRange(1, 1000);
    m_upscaleSteps->setValue(50);
    m_upscaleSteps->setPrefix(tr("steps "));
    m_upscaleSteps->setToolTip(tr("Stage II denoising steps (diffusers' default 50; each is a 256 px UNet step)"));
    m_upscalerRow = row(this, tr("Stage II"), m_upscaler, browse);
    static_cast<QHBoxLayout*>(m_upscalerRow->layout())->addWidget(m_upscaleSteps);
    col->addWidget(m_upscalerRow);
    // Flow-matching models sample with their own Euler steps (t = 0 noise -> 1 data).
    m_euler = new QSpinBox(this);
    m_euler->setObjectName(QStringLiteral("eulerSteps"));
    m_euler->setRange(1, 1000);
    m_euler->setValue(50);
    m_euler->setToolTip(tr("Flow matching: Euler steps from t = 0 (noise) to t = 1 (data) with the model's "
                           "velocity (the course: 50 for the time-conditioned model, 300 with classes)"));
    m_eulerRow = row(this, tr("Euler steps"), m_euler);
    col->addWidget(m_eulerRow);
    col->addStretch(1);
    connect(m_euler, &QSpinBox::valueChanged, this, [this] {
        m_userEuler = true;  // typed or from a recipe: kept over the kind's default from now on
        Q_EMIT changed();
    });
    connect(m_upscaler, &QLineEdit::editingFinished, this, &ModePanel::changed);
    connect(m_upscaleSteps, &QSpinBox::valueChanged, this, &ModePanel::changed);
}

FieldUse GeneratePanel::fields(const ds::ModelInfo* model) const {
    FieldUse f;
    f.steps = !isFlow(model);
    return f;
}

void GeneratePanel::setModel(const ds::ModelInfo* m, const std::vector<std::int64_t>&) {
    m_upscalerRow->setVisible(m && m->family == "deepfloyd-if");
    m_eulerRow->setVisible(isFlow(m));
    if (!isFlow(m)) return;
    // The course's count for the kind, unless the user chose another.
    if (m_userEuler) return;
    const QSignalBlocker block(m_euler);
    m_euler->setValue(m->kind == ds::ModelKind::ClassFm ? 300 : 50);
}

PartARequest GeneratePanel::request(const RequestContext& c) const {
    const auto& s = c.sampler;
    if (c.model && c.model->family == "deepfloyd-if" && !m_upscaler->text().trimmed().isEmpty()) {
        // Stage I on the strided list length, then stage II to 256 px.
        ds::IfGenerateRequest r;
        r.weights = s.model;
        r.upscaler = m_upscaler->text().trimmed().toStdString();
        r.prompts = {s.prompt};
        r.negative_prompt = s.negative_prompt;
        r.count = s.count;
        r.steps = c.steps;
        r.upscale_steps = m_upscaleSteps->value();
        r.guidance = s.guidance > 0 ? s.guidance : 7.0;
        r.seed = s.seed;
        return r;
    }
    ds::IterateRequest r;
    r.sampler = s;
    r.i_start = 0;
    if (isFlow(c.model)) r.flow_steps = m_euler->value();
    return r;
}

void GeneratePanel::applyRecipe(const ds::RecipeSettings& r, QStringList*) {
    m_upscaler->setText(QString::fromStdString(r.upscaler));
    if (r.upscale_steps) m_upscaleSteps->setValue(*r.upscale_steps);
    if (r.flow_steps) m_euler->setValue(*r.flow_steps);
}

void GeneratePanel::saveState(QSettings& s) const {
    s.setValue(QStringLiteral("workspace/generate/eulerSteps"), m_euler->value());
    s.setValue(QStringLiteral("workspace/generate/eulerIsUsers"), m_userEuler);
    s.setValue(QStringLiteral("workspace/generate/upscaler"), m_upscaler->text());
    s.setValue(QStringLiteral("workspace/generate/upscaleSteps"), m_upscaleSteps->value());
}

void GeneratePanel::restoreState(const QSettings& s) {
    if (s.contains(QStringLiteral("workspace/generate/eulerSteps"))) {
        const QSignalBlocker block(m_euler);
        m_euler->setValue(s.value(QStringLiteral("workspace/generate/eulerSteps")).toInt());
        m_userEuler = s.value(QStringLiteral("workspace/generate/eulerIsUsers")).toBool();
    }
    m_upscaler->setText(s.value(QStringLiteral("workspace/generate/upscaler")).toString());
    if (s.contains(QStringLiteral("workspace/generate/upscaleSteps")))
        m_upscaleSteps->setValue(s.value(QStringLiteral("workspace/generate/upscaleSteps")).toInt());
}

}  // namespace ui
