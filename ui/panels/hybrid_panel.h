#pragma once
// Hybrid images (course 1.9): low frequencies of the far prompt's estimate plus high
// frequencies of the near prompt's; a viewing-distance slider previews the far reading.
#include "ui/panels/mode_panel.h"

class QDoubleSpinBox;
class QSlider;
class QSpinBox;

namespace ui {

class HybridPanel : public ModePanel {
    Q_OBJECT
public:
    explicit HybridPanel(QWidget* parent = nullptr);
    Mode mode() const override { return Mode::Hybrid; }
    QString key() const override { return QStringLiteral("hybrid"); }
    PartARequest request(const RequestContext& context) const override;
    FieldUse fields(const ds::ModelInfo* model) const override;
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) override;
    void saveState(QSettings& settings) const override;
    void restoreState(const QSettings& settings) override;
    int viewingDistance() const;

Q_SIGNALS:
    // Only the display changes (the result seen from further away), not the result.
    void viewingDistanceChanged(int distance);

private:
    QSpinBox* m_kernel = nullptr;
    QDoubleSpinBox* m_sigma = nullptr;
    QSlider* m_distance = nullptr;
};

}  // namespace ui
