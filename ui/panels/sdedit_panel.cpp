#include "ui/panels/sdedit_panel.h"

#include <QCheckBox>
#include <QFormLayout>

#include "ui/panels/strength_slider.h"

namespace ui {

SdeditPanel::SdeditPanel(QWidget* parent) : ModePanel(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->setRowWrapPolicy(QFormLayout::DontWrapRows);
    m_strength = new StrengthSlider(QStringLiteral("sdeditStrength"), this);
    m_live = new QCheckBox(tr("Live: re-run on any change"), this);
    m_live->setObjectName(QStringLiteral("sdeditLive"));
    m_live->setToolTip(tr("Re-run as you draw or change the strength, prompt, guidance, seed or samples"));
    m_live->setChecked(true);
    m_strip = new QCheckBox(tr("Strip: the course's i_start 1, 3, 5, 7, 10, 20"), this);
    m_strip->setObjectName(QStringLiteral("sdeditStrip"));
    form->addRow(m_strength);
    form->addRow(m_live);
    form->addRow(m_strip);
    connect(m_strength, &StrengthSlider::changed, this, &ModePanel::changed);
    connect(m_strip, &QCheckBox::toggled, this, [this] {
        m_strength->setEnabled(!m_strip->isChecked());
        Q_EMIT changed();
    });
    connect(m_live, &QCheckBox::toggled, this, [this](bool on) {
        if (on) Q_EMIT changed();
    });
}

bool SdeditPanel::isLive() const { return m_live->isChecked(); }

void SdeditPanel::setModel(const ds::ModelInfo* m, const std::vector<std::int64_t>& list) {
    m_strength->setSchedule(m ? m->timesteps : 0, m ? m->alpha_bars : std::vector<double>{}, list);
}

PartARequest SdeditPanel::request(const RequestContext& c) const {
    ds::SdeditRequest r;
    r.sampler = c.sampler;
    r.input = c.canvas;
    if (!m_strip->isChecked()) r.i_starts = {m_strength->iStart()};
    return r;
}

void SdeditPanel::applyRecipe(const ds::RecipeSettings& r, QStringList* unrestored) {
    const auto& a = r.i_starts;
    m_strip->setChecked(a.size() > 1);
    if (a.size() == 1 && !m_strength->setIStart(a[0]) && unrestored)
        *unrestored << tr("i_start %1 (not in the step list)").arg(a[0]);
}

void SdeditPanel::saveState(QSettings& s) const {
    s.setValue(QStringLiteral("workspace/sdedit/t"), m_strength->t());
    s.setValue(QStringLiteral("workspace/sdedit/live"), m_live->isChecked());
    s.setValue(QStringLiteral("workspace/sdedit/strip"), m_strip->isChecked());
}

void SdeditPanel::restoreState(const QSettings& s) {
    if (s.contains(QStringLiteral("workspace/sdedit/t"))) m_strength->setT(s.value(QStringLiteral("workspace/sdedit/t")).toInt());
    m_live->setChecked(s.value(QStringLiteral("workspace/sdedit/live"), true).toBool());
    m_strip->setChecked(s.value(QStringLiteral("workspace/sdedit/strip"), false).toBool());
}

}  // namespace ui
