#pragma once
// Inpainting (course 1.7.2): the painted mask (white = generate) is regenerated with the prompt
// while the rest is forced back to the input at every step; grow and feather shape the mask,
// strength (t) lets the run start from a noised input instead of pure noise.
#include "ui/panels/mode_panel.h"

class QDoubleSpinBox;
class QSpinBox;

namespace ui {

class StrengthSlider;

class InpaintPanel : public ModePanel {
    Q_OBJECT
public:
    explicit InpaintPanel(QWidget* parent = nullptr);
    Mode mode() const override { return Mode::Inpaint; }
    QString key() const override { return QStringLiteral("inpaint"); }
    PartARequest request(const RequestContext& context) const override;
    bool usesCanvas() const override { return true; }
    bool usesMask() const override { return true; }
    void setModel(const ds::ModelInfo* model, const std::vector<std::int64_t>& timesteps) override;
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) override;
    void saveState(QSettings& settings) const override;
    void restoreState(const QSettings& settings) override;

private:
    StrengthSlider* m_strength = nullptr;
    QSpinBox* m_grow = nullptr;
    QDoubleSpinBox* m_feather = nullptr;
    bool m_strengthSet = false;
};

}  // namespace ui
