#pragma once
// Visual anagrams (course 1.8): one image that reads as the first prompt as it is and as the
// second prompt through a view (rot180 by default; the engine's list of views).
#include "ui/panels/mode_panel.h"

class QComboBox;

namespace ui {

class AnagramPanel : public ModePanel {
    Q_OBJECT
public:
    explicit AnagramPanel(QWidget* parent = nullptr);
    Mode mode() const override { return Mode::Anagram; }
    QString key() const override { return QStringLiteral("anagram"); }
    PartARequest request(const RequestContext& context) const override;
    FieldUse fields(const ds::ModelInfo* model) const override;
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) override;
    void saveState(QSettings& settings) const override;
    void restoreState(const QSettings& settings) override;
    QString view() const;

private:
    QComboBox* m_view = nullptr;
};

}  // namespace ui
