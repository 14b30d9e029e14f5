#pragma once
// The settings every Studio mode shares: mode, model, prompts, guidance, seed, samples and the
// strided step list. Models a mode cannot use stay listed but greyed out (a single-step
// denoiser runs only in the Denoise mode, noise predictors everywhere else); the fields the
// current mode does not use are disabled (FieldUse).
#include <QSettings>
#include <QWidget>
#include <vector>

#include "core/engine/requests.h"
#include "ui/panels/mode_panel.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace ui {

class SettingsPanel : public QWidget {
    Q_OBJECT
public:
    explicit SettingsPanel(QWidget* parent = nullptr);

    Mode mode() const;
    void setMode(Mode mode);
    QString modeName() const;

    // The models offered (classifiers are left out); selects the bundled class DDPM.
    void setModels(const std::vector<ds::ModelInfo>& models);
    // Appends a model (or re-selects it when its id or path is listed) and selects it; a model the
    // mode cannot use switches the mode (a denoiser: Denoise; a predictor leaving Denoise: Generate).
    // False for kinds the Studio cannot play (a classifier).
    bool addModel(const ds::ModelInfo& model);
    const std::vector<ds::ModelInfo>& models() const { return m_models; }
    const ds::ModelInfo* currentModel() const;
    // Selects the model whose id or path is `name`; false when none is listed.
    bool selectModel(const QString& name);
    // Describes a model file, run folder or IF folder (reads only headers and configs) and adds
    // it; false with the reason when it cannot be read or played.
    bool openModel(const QString& path, QString* why);
    static bool fitsMode(const ds::ModelInfo& model, Mode mode);
    static bool isDenoiser(const ds::ModelInfo& model);

    // The strided list the Steps field selects (the model's own 34-entry list by default).
    std::vector<std::int64_t> timestepList() const;
    int steps() const;
    ds::SamplerSettings samplerSettings() const;
    RequestContext requestContext() const;  // all but the canvas and mask
    std::string secondPrompt() const;
    bool setPrompt(const QString& prompt);   // a class index ("7") or IF text; false if not offered
    bool setSecondPrompt(const QString& prompt);
    void setFieldUse(const FieldUse& use);
    void newSeedIfUnlocked();

    // Seed, guidance, samples, steps, prompts and negative prompt of a recipe (the model and mode
    // are the caller's); fields that cannot be restored are named in `unrestored`.
    void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored);
    void saveState(QSettings& settings) const;
    // Restores the fields; the model must be selected first (prompts depend on it).
    void restoreState(const QSettings& settings, QStringList* unrestored);

    static constexpr int kCourseSteps = 34;

Q_SIGNALS:
    void modeChanged();
    void modelChanged();  // the model or its step list: mode panels follow
    void changed();       // a field the result depends on (prompt, guidance, seed, samples, steps)

private:
    void fillPrompt(QComboBox* box);
    void updateModelList();
    void onModelChanged();

    std::vector<ds::ModelInfo> m_models;
    QComboBox* m_mode = nullptr;
    QComboBox* m_model = nullptr;
    QComboBox* m_prompt = nullptr;
    QComboBox* m_prompt2 = nullptr;  // anagram second view / hybrid "near"
    QLabel* m_prompt2Label = nullptr;
    QLineEdit* m_negative = nullptr;  // IF: CFG negative prompt
    QLabel* m_negativeLabel = nullptr;
    QDoubleSpinBox* m_guidance = nullptr;
    QSpinBox* m_seed = nullptr;
    QCheckBox* m_seedLock = nullptr;
    QSpinBox* m_count = nullptr;
    QSpinBox* m_steps = nullptr;
    FieldUse m_use;
};

}  // namespace ui
