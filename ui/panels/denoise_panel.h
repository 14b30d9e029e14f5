#pragma once
// Options of the Denoise mode (course 1.2): the single-step denoiser D(z) on the canvas image
// noised at sigma (z = x + sigma eps; a slider, live), the out-of-distribution sweep strip
// (course 1.2.2), and pure-noise input (z = eps, course 1.2.3: a denoiser trained that way
// answers every input with the mean digit). The panel builds the engine request and restores
// its fields from a recipe; the main window owns model, seed and canvas. Changes of sigma, sweep or pure noise emit changed().
#include <vector>

#include "ui/panels/mode_panel.h"

class QCheckBox;
class QLabel;
class QSlider;

namespace ui {

class DenoisePanel : public ModePanel {
    Q_OBJECT
public:
    explicit DenoisePanel(QWidget* parent = nullptr);
    Mode mode() const override { return Mode::Denoise; }
    QString key() const override { return QStringLiteral("denoise"); }
    PartARequest request(const RequestContext& context) const override;
    FieldUse fields(const ds::ModelInfo* model) const override;
    bool usesCanvas() const override { return !pureNoise(); }
    bool isLive() const override { return live(); }
    void saveState(QSettings& settings) const override;
    void restoreState(const QSettings& settings) override;

    double sigma() const;  // the slider in steps of 0.01, 0..2
    void setSigma(double sigma);
    bool sweep() const;
    void setSweep(bool on);
    bool pureNoise() const;
    void setPureNoise(bool on);
    bool live() const;
    void setLive(bool on);

    // The course's out-of-distribution list (1.2.2).
    static std::vector<double> sweepSigmas() { return {0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0}; }

    // The request for `model` with the panel's options; `input` is ignored with pure noise,
    // `count` (samples of pure noise) otherwise.
    ds::DenoiseRequest request(const std::string& model, std::uint64_t seed, int count,
                               ds::ImageInput input) const;
    // Sets sigma, the sweep and pure noise from a "denoise" recipe (fields it lacks stay as they are).
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) override;

private:
    void updateLabel();
    QSlider* m_sigma = nullptr;
    QLabel* m_sigmaLabel = nullptr;
    QCheckBox* m_sweep = nullptr;
    QCheckBox* m_pure = nullptr;
    QCheckBox* m_live = nullptr;
};

}  // namespace ui
