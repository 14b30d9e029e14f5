#pragma once
// Restoring a recipe (the JSON a saved result carries) into the Studio's settings: checked against
// the engine's allow-list first (a recipe is data someone may have sent), then the technique picks
// the mode, the model is selected (or opened from its path), and the shared settings and the
// mode's panel take their fields. Whatever cannot be restored is listed, never dropped silently.
#include <QList>
#include <QString>
#include <QStringList>
#include <functional>

namespace ui {

class ModePanel;
class SettingsPanel;

struct RecipeRestore {
    bool ok = false;
    QString error;        // why the recipe was refused (nothing was changed then)
    QString technique;    // e.g. "sdedit"
    QStringList unrestored;
};

RecipeRestore restoreRecipe(const QString& json, SettingsPanel* settings, const QList<ModePanel*>& panels,
                            const std::function<bool(const QString& path, QString* why)>& openModel);

// The recipe text of a saved result: a PNG's ds.recipe chunk or a .json file (bounded by
// ds::kMaxRecipeBytes); false with a message naming the problem.
bool readRecipeFile(const QString& path, QString* json, QString* error);

}  // namespace ui
