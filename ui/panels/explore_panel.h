#pragma once
// Forward / denoise explorer (course 1.1-1.3): the canvas noised to x_t at one t, the one-step
// clean estimate beside it; live as t moves or the canvas changes.
#include "ui/panels/mode_panel.h"

class QLabel;
class QSlider;

namespace ui {

class ExplorePanel : public ModePanel {
    Q_OBJECT
public:
    explicit ExplorePanel(QWidget* parent = nullptr);
    Mode mode() const override { return Mode::Explore; }
    QString key() const override { return QStringLiteral("explore"); }
    PartARequest request(const RequestContext& context) const override;
    FieldUse fields(const ds::ModelInfo* model) const override;
    bool usesCanvas() const override { return true; }
    bool isLive() const override { return true; }
    void setModel(const ds::ModelInfo* model, const std::vector<std::int64_t>& timesteps) override;
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) override;
    void saveState(QSettings& settings) const override;
    void restoreState(const QSettings& settings) override;
    int t() const;

private:
    void updateLabel();
    QSlider* m_t = nullptr;
    QLabel* m_label = nullptr;
    std::vector<double> m_alphaBars;
};

}  // namespace ui
