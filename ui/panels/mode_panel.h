#pragma once
// One widget per Studio mode holds that mode's options (ui/panels/*_panel). The main window
// keeps the settings every mode shares (ui/panels/settings_panel) and asks the current mode's
// panel for the engine request, which shared fields it uses, whether it reads the canvas, and
// whether it re-runs live. Each panel restores its own fields from a recipe and keeps them in the
// workspace (QSettings, keys under workspace/<key()>/).
#include <QSettings>
#include <QStringList>
#include <QWidget>
#include <cstdint>
#include <vector>

#include "core/engine/recipe.h"
#include "core/engine/requests.h"
#include "ui/bridge/engine_worker.h"

namespace ui {

enum class Mode { Generate, Explore, Sdedit, Inpaint, Anagram, Hybrid, Denoise };

// What a request is built from: the shared settings and the canvas.
struct RequestContext {
    ds::SamplerSettings sampler;           // model, prompt, guidance (-1 = unused), seed, count
    const ds::ModelInfo* model = nullptr;  // the selected model (never null when a run starts)
    std::vector<std::int64_t> timesteps;   // the strided list the Steps field selects
    int steps = 34;                        // the Steps field
    std::string prompt2;                   // anagram second view / hybrid near prompt
    ds::ImageInput canvas;                 // the canvas image
    ds::ImageInput mask;                   // the painted mask (inpainting)
};

// The shared fields a mode uses; the others are disabled (and say why in their tooltip).
struct FieldUse {
    bool prompt = true;
    QString secondPrompt;  // label of the second prompt row; empty = hidden
    bool guidance = true;
    bool samples = true;
    bool steps = true;
};

class ModePanel : public QWidget {
    Q_OBJECT
public:
    using QWidget::QWidget;
    virtual Mode mode() const = 0;
    virtual QString key() const = 0;  // workspace key, e.g. "sdedit"
    virtual PartARequest request(const RequestContext& context) const = 0;
    virtual FieldUse fields(const ds::ModelInfo* model) const {
        (void)model;
        return {};
    }
    virtual bool usesCanvas() const { return false; }
    virtual bool usesMask() const { return false; }
    // True when any change of input, prompt, guidance, seed or option re-runs (debounced).
    virtual bool isLive() const { return false; }
    // The model or its step list changed: ranges and labels follow.
    virtual void setModel(const ds::ModelInfo* model, const std::vector<std::int64_t>& timesteps) {
        (void)model;
        (void)timesteps;
    }
    // Restores the panel's fields from a recipe of its technique; fields it cannot restore are
    // named in `unrestored` (never dropped silently).
    virtual void applyRecipe(const ds::RecipeSettings& recipe, QStringList* unrestored = nullptr) {
        (void)recipe;
        (void)unrestored;
    }
    virtual void saveState(QSettings& settings) const { (void)settings; }
    virtual void restoreState(const QSettings& settings) { (void)settings; }

Q_SIGNALS:
    // An option the result depends on changed: a live panel re-runs.
    void changed();
};

}  // namespace ui
