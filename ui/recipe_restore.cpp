#include "ui/recipe_restore.h"

#include <QFile>
#include <QFileInfo>
#include <QHash>

#include "core/engine/engine.h"
#include "core/engine/recipe.h"
#include "ui/panels/mode_panel.h"
#include "ui/panels/settings_panel.h"

namespace ui {

RecipeRestore restoreRecipe(const QString& json, SettingsPanel* settings, const QList<ModePanel*>& panels,
                            const std::function<bool(const QString&, QString*)>& openModel) {
    RecipeRestore out;
    ds::Recipe recipe;
    try {
        recipe = ds::parse_recipe(json.toStdString(), "recipe");
    } catch (const std::exception& e) {
        out.error = QString::fromUtf8(e.what());
        return out;
    }
    out.ok = true;
    out.technique = QString::fromStdString(recipe.technique);
    static const QHash<QString, Mode> modes = {
        {QStringLiteral("sample"), Mode::Generate},  {QStringLiteral("iterate"), Mode::Generate},
        {QStringLiteral("explore"), Mode::Explore},  {QStringLiteral("sdedit"), Mode::Sdedit},
        {QStringLiteral("inpaint"), Mode::Inpaint},  {QStringLiteral("anagram"), Mode::Anagram},
        {QStringLiteral("hybrid"), Mode::Hybrid},    {QStringLiteral("if-generate"), Mode::Generate},
        {QStringLiteral("denoise"), Mode::Denoise},  {QStringLiteral("part-b-sample"), Mode::Generate}};
    // IF text-to-image recipes name the stage I folder "weights" (and stage II "upscaler").
    const QString model = QString::fromStdString(recipe.settings.model);
    if (!settings->selectModel(model)) {
        QString why = QObject::tr("not loaded, and no such file or folder");
        if (!QFileInfo::exists(model) || !openModel(model, &why)) {
            const auto* current = settings->currentModel();
            out.unrestored << QObject::tr("model '%1' (%2; %3 stays selected)")
                                  .arg(model, why, current ? QString::fromStdString(current->id) : QString());
        }
    }
    if (modes.contains(out.technique)) settings->setMode(modes.value(out.technique));
    settings->applyRecipe(recipe.settings, &out.unrestored);
    if (auto* panel = panels.value(int(settings->mode()))) panel->applyRecipe(recipe.settings, &out.unrestored);
    return out;
}

bool readRecipeFile(const QString& path, QString* json, QString* error) {
    if (path.endsWith(QStringLiteral(".png"), Qt::CaseInsensitive)) {
        try {
            for (const auto& [k, v] : ds::read_png_text(path.toStdString()))
                if (k == "ds.recipe") *json = QString::fromStdString(v);
        } catch (const std::exception& e) {
            *error = QString::fromUtf8(e.what());
            return false;
        }
        if (json->isEmpty()) *error = QObject::tr("the PNG carries no recipe");
        return !json->isEmpty();
    }
    QFile file(path);
    if (file.size() > qint64(ds::kMaxRecipeBytes)) {
        *error = QObject::tr("%1 bytes, larger than any recipe").arg(file.size());
        return false;
    }
    if (!file.open(QIODevice::ReadOnly)) {
        *error = file.errorString();
        return false;
    }
    *json = QString::fromUtf8(file.read(qint64(ds::kMaxRecipeBytes)));
    return true;
}

}  // namespace ui
