#pragma once
// Generate: sample from pure noise. DDPM models walk the strided list (the shared Steps field);
// a flow-matching model integrates its own velocity in Euler steps; a DeepFloyd IF model may
// upscale its 64 px result with a stage II folder.
#include "ui/panels/mode_panel.h"

class QLineEdit;
class QSpinBox;

namespace ui {

class GeneratePanel : public ModePanel {
    Q_OBJECT
public:
    explicit GeneratePanel(QWidget* parent = nullptr);
    Mode mode() const override { return Mode::Generate; }
    QString key() const override { return QStringLiteral("generate"); }
    PartARequest request(const RequestContext& context) const override;
    FieldUse fields(const ds::ModelInfo* model) const override;
    void setModel(const ds::ModelInfo* model, const std::vector<std::int64_t>& timesteps) override;
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) override;
    void saveState(QSettings& settings) const override;
    void restoreState(const QSettings& settings) override;

    static bool isFlow(const ds::ModelInfo* model);

private:
    QLineEdit* m_upscaler = nullptr;
    QWidget* m_upscalerRow = nullptr;
    QSpinBox* m_upscaleSteps = nullptr;  // stage II steps (IFSuperResolutionPipeline: 50)
    QSpinBox* m_euler = nullptr;
    QWidget* m_eulerRow = nullptr;
    bool m_userEuler = false;  // the Euler count was typed (or restored): model changes keep it
};

}  // namespace ui
