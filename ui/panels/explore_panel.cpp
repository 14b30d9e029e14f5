#include "ui/panels/explore_panel.h"

#include <QFormLayout>
#include <QLabel>
#include <QSlider>
#include <cmath>

namespace ui {

ExplorePanel::ExplorePanel(QWidget* parent) : ModePanel(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->setRowWrapPolicy(QFormLayout::DontWrapRows);
    m_t = new QSlider(Qt::Horizontal, this);
    m_t->setObjectName(QStringLiteral("exploreT"));
    m_t->setToolTip(tr("The timestep t of x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε"));
    m_label = new QLabel(this);
    m_label->setObjectName(QStringLiteral("exploreTLabel"));
    form->addRow(tr("t"), m_t);
    form->addRow(QString(), m_label);
    connect(m_t, &QSlider::valueChanged, this, [this] {
        updateLabel();
        Q_EMIT changed();
    });
}

int ExplorePanel::t() const { return m_t->value(); }

FieldUse ExplorePanel::fields(const ds::ModelInfo*) const {
    FieldUse f;
    f.samples = false;
    f.steps = false;
    return f;
}

void ExplorePanel::setModel(const ds::ModelInfo* m, const std::vector<std::int64_t>&) {
    if (!m || m->timesteps <= 0) return;  // the denoiser: t is kept for the next model
    m_alphaBars = m->alpha_bars;
    const QSignalBlocker block(m_t);
    m_t->setRange(0, m->timesteps - 1);
    m_t->setPageStep(std::max(1, m_t->maximum() / 30));
    if (m_t->value() == 0) m_t->setValue(m->timesteps / 2);
    updateLabel();
}

void ExplorePanel::updateLabel() {
    const int t = m_t->value();
    if (t < 0 || t >= int(m_alphaBars.size())) return m_label->setText(QString());
    m_label->setText(tr("t = %1, ᾱ_t = %2, √ᾱ_t = %3").arg(t).arg(m_alphaBars[t], 0, 'f', 3).arg(std::sqrt(m_alphaBars[t]), 0, 'f', 3));
}

PartARequest ExplorePanel::request(const RequestContext& c) const {
    ds::NoiseExplorerRequest r;
    r.sampler = c.sampler;
    r.sampler.count = 1;
    r.input = c.canvas;
    r.t_list = {m_t->value()};
    return r;
}

void ExplorePanel::applyRecipe(const ds::RecipeSettings& r, QStringList* unrestored) {
    if (r.t_list.empty()) return;
    const int t = int(r.t_list[0]);
    if (t > m_t->maximum() && unrestored) *unrestored << tr("t = %1 (the model has T = %2)").arg(t).arg(m_t->maximum() + 1);
    m_t->setValue(t);
}

void ExplorePanel::saveState(QSettings& s) const { s.setValue(QStringLiteral("workspace/explore/t"), m_t->value()); }
void ExplorePanel::restoreState(const QSettings& s) {
    if (s.contains(QStringLiteral("workspace/explore/t"))) m_t->setValue(s.value(QStringLiteral("workspace/explore/t")).toInt());
}

}  // namespace ui
