#include "ui/panels/inpaint_panel.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QSlider>
#include <QSpinBox>

#include "ui/panels/strength_slider.h"

namespace ui {

InpaintPanel::InpaintPanel(QWidget* parent) : ModePanel(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->setRowWrapPolicy(QFormLayout::DontWrapRows);
    m_strength = new StrengthSlider(QStringLiteral("inpaintStrength"), this);
    m_strength->setToolTip(tr("The timestep the masked region starts from: T-1 (the course) is pure noise"));
    m_grow = new QSpinBox(this);
    m_grow->setObjectName(QStringLiteral("inpaintGrow"));
    m_grow->setRange(0, 16);
    m_feather = new QDoubleSpinBox(this);
    m_feather->setObjectName(QStringLiteral("inpaintFeather"));
    m_feather->setRange(0, 16);
    m_feather->setSingleStep(0.5);
    auto* info = new QLabel(tr("Paint the mask on the canvas (Mask brush): white = generate. Shift+V inverts."), this);
    info->setWordWrap(true);
    form->addRow(m_strength);
    form->addRow(tr("Grow mask (px)"), m_grow);
    form->addRow(tr("Feather (σ px)"), m_feather);
    form->addRow(info);
    connect(m_strength, &StrengthSlider::changed, this, &ModePanel::changed);
    connect(m_grow, &QSpinBox::valueChanged, this, &ModePanel::changed);
    connect(m_feather, &QDoubleSpinBox::valueChanged, this, &ModePanel::changed);
}

void InpaintPanel::setModel(const ds::ModelInfo* m, const std::vector<std::int64_t>& list) {
    m_strength->setSchedule(m ? m->timesteps : 0, m ? m->alpha_bars : std::vector<double>{}, list);
    if (!m_strengthSet && m && m->timesteps > 0) {  // the course starts the masked region from pure noise
        const QSignalBlocker block(m_strength);
        m_strength->setT(m->timesteps - 1);
        m_strengthSet = true;
    }
}

PartARequest InpaintPanel::request(const RequestContext& c) const {
    ds::InpaintRequest r;
    r.sampler = c.sampler;
    r.input = c.canvas;
    r.mask = c.mask;
    r.mask.fit = ds::InputFit::Stretch;
    r.mask.invert = ds::Invert::No;
    r.grow = m_grow->value();
    r.feather = m_feather->value();
    r.i_start = m_strength->iStart();
    return r;
}

void InpaintPanel::applyRecipe(const ds::RecipeSettings& r, QStringList* unrestored) {
    if (r.i_start) {
        const int i = *r.i_start;
        if (!m_strength->setIStart(i) && unrestored) *unrestored << tr("i_start %1 (not in the step list)").arg(i);
        m_strengthSet = true;
    }
    if (r.mask_grow) m_grow->setValue(int(*r.mask_grow));
    if (r.mask_feather) m_feather->setValue(*r.mask_feather);
}

void InpaintPanel::saveState(QSettings& s) const {
    s.setValue(QStringLiteral("workspace/inpaint/t"), m_strength->t());
    s.setValue(QStringLiteral("workspace/inpaint/grow"), m_grow->value());
    s.setValue(QStringLiteral("workspace/inpaint/feather"), m_feather->value());
}

void InpaintPanel::restoreState(const QSettings& s) {
    if (s.contains(QStringLiteral("workspace/inpaint/t"))) {
        m_strength->setT(s.value(QStringLiteral("workspace/inpaint/t")).toInt());
        m_strengthSet = true;
    }
    m_grow->setValue(s.value(QStringLiteral("workspace/inpaint/grow"), 0).toInt());
    m_feather->setValue(s.value(QStringLiteral("workspace/inpaint/feather"), 0.0).toDouble());
}

}  // namespace ui
