#include "ui/panels/anagram_panel.h"

#include <QComboBox>
#include <QFormLayout>

#include "core/engine/engine.h"

namespace ui {

AnagramPanel::AnagramPanel(QWidget* parent) : ModePanel(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->setRowWrapPolicy(QFormLayout::DontWrapRows);
    m_view = new QComboBox(this);
    m_view->setObjectName(QStringLiteral("anagramView"));
    for (const auto& v : ds::Engine::anagram_views())
        if (v != "identity") m_view->addItem(QString::fromStdString(v));
    m_view->setToolTip(tr("How the image is turned to read the second prompt"));
    form->addRow(tr("Second view"), m_view);
    connect(m_view, &QComboBox::currentIndexChanged, this, &ModePanel::changed);
}

QString AnagramPanel::view() const { return m_view->currentText(); }

FieldUse AnagramPanel::fields(const ds::ModelInfo*) const {
    FieldUse f;
    f.secondPrompt = tr("Second prompt");
    return f;
}

PartARequest AnagramPanel::request(const RequestContext& c) const {
    ds::AnagramRequest r;
    r.sampler = c.sampler;
    r.views = {"identity", m_view->currentText().toStdString()};
    r.prompts = {c.sampler.prompt, c.prompt2};
    return r;
}

void AnagramPanel::applyRecipe(const ds::RecipeSettings& r, QStringList* unrestored) {
    if (r.views.size() < 2) return;
    const QString view = QString::fromStdString(r.views[1]);
    const int i = m_view->findText(view);
    if (i >= 0) m_view->setCurrentIndex(i);
    else if (unrestored) *unrestored << tr("view '%1' (unknown)").arg(view);
}

void AnagramPanel::saveState(QSettings& s) const { s.setValue(QStringLiteral("workspace/anagram/view"), view()); }
void AnagramPanel::restoreState(const QSettings& s) {
    const int i = m_view->findText(s.value(QStringLiteral("workspace/anagram/view")).toString());
    if (i >= 0) m_view->setCurrentIndex(i);
}

}  // namespace ui
