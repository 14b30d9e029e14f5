#include "ui/panels/hybrid_panel.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QSlider>
#include <QSpinBox>

namespace ui {

HybridPanel::HybridPanel(QWidget* parent) : ModePanel(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->setRowWrapPolicy(QFormLayout::DontWrapRows);
    m_kernel = new QSpinBox(this);
    m_kernel->setObjectName(QStringLiteral("hybridKernel"));
    m_kernel->setRange(3, 65);
    m_kernel->setSingleStep(2);
    m_kernel->setValue(33);
    m_kernel->setToolTip(tr("Gaussian kernel size of the low-pass filter (odd)"));
    m_sigma = new QDoubleSpinBox(this);
    m_sigma->setObjectName(QStringLiteral("hybridSigma"));
    m_sigma->setRange(0.3, 16);
    m_sigma->setValue(2.0);
    m_distance = new QSlider(Qt::Horizontal, this);
    m_distance->setObjectName(QStringLiteral("viewingDistance"));
    m_distance->setRange(0, 8);
    m_distance->setToolTip(tr("Viewing distance: shows the results as seen from further away (the far reading)"));
    form->addRow(tr("Kernel"), m_kernel);
    form->addRow(tr("σ"), m_sigma);
    form->addRow(tr("Viewing distance"), m_distance);
    connect(m_kernel, &QSpinBox::valueChanged, this, &ModePanel::changed);
    connect(m_sigma, &QDoubleSpinBox::valueChanged, this, &ModePanel::changed);
    connect(m_distance, &QSlider::valueChanged, this, &HybridPanel::viewingDistanceChanged);
}

int HybridPanel::viewingDistance() const { return m_distance->value(); }

FieldUse HybridPanel::fields(const ds::ModelInfo*) const {
    FieldUse f;
    f.secondPrompt = tr("Near prompt");
    return f;
}

PartARequest HybridPanel::request(const RequestContext& c) const {
    ds::HybridRequest r;
    r.sampler = c.sampler;
    r.prompt_far = c.sampler.prompt;
    r.prompt_near = c.prompt2;
    r.kernel = m_kernel->value() | 1;
    r.sigma = m_sigma->value();
    return r;
}

void HybridPanel::applyRecipe(const ds::RecipeSettings& r, QStringList*) {
    if (r.kernel) m_kernel->setValue(*r.kernel);
    if (r.sigma) m_sigma->setValue(*r.sigma);
}

void HybridPanel::saveState(QSettings& s) const {
    s.setValue(QStringLiteral("workspace/hybrid/kernel"), m_kernel->value());
    s.setValue(QStringLiteral("workspace/hybrid/sigma"), m_sigma->value());
}

void HybridPanel::restoreState(const QSettings& s) {
    m_kernel->setValue(s.value(QStringLiteral("workspace/hybrid/kernel"), 33).toInt());
    m_sigma->setValue(s.value(QStringLiteral("workspace/hybrid/sigma"), 2.0).toDouble());
}

}  // namespace ui
