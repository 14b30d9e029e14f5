#pragma once
// SDEdit (course 1.7): the canvas noised to t and denoised back with the prompt. Strength is t
// (StrengthSlider), live by default: any change of input, prompt, guidance, seed or strength
// re-runs; the strip runs the course's i_start list 1, 3, 5, 7, 10, 20 in one figure.
#include "ui/panels/mode_panel.h"

class QCheckBox;

namespace ui {

class StrengthSlider;

class SdeditPanel : public ModePanel {
    Q_OBJECT
public:
    explicit SdeditPanel(QWidget* parent = nullptr);
    Mode mode() const override { return Mode::Sdedit; }
    QString key() const override { return QStringLiteral("sdedit"); }
    PartARequest request(const RequestContext& context) const override;
    bool usesCanvas() const override { return true; }
    bool isLive() const override;
    void setModel(const ds::ModelInfo* model, const std::vector<std::int64_t>& timesteps) override;
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) override;
    void saveState(QSettings& settings) const override;
    void restoreState(const QSettings& settings) override;
    StrengthSlider* strength() const { return m_strength; }

private:
    StrengthSlider* m_strength = nullptr;
    QCheckBox* m_live = nullptr;
    QCheckBox* m_strip = nullptr;
};

}  // namespace ui
