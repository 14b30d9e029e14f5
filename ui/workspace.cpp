#include "ui/workspace.h"

#include <QDir>
#include <QFileInfo>
#include <QImage>
#include <QSettings>
#include <QStandardPaths>

#include "ui/canvas/image_canvas.h"
#include "ui/dashboard/train_dashboard.h"
#include "ui/panels/mode_panel.h"
#include "ui/panels/settings_panel.h"
#include "ui/results/history_strip.h"

namespace ui {

QString Workspace::dir() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/workspace");
}

bool Workspace::exists() { return QSettings().contains(QStringLiteral("workspace/mode")); }

void Workspace::save(const WorkspaceParts& p) {
    QSettings s;
    p.settings->saveState(s);
    for (const auto* panel : p.panels) panel->saveState(s);
    QStringList opened;  // models opened by the user (they have a path); bundled ones come back by themselves
    for (const auto& m : p.settings->models())
        if (!m.path.empty()) opened << QString::fromStdString(m.path);
    s.setValue(QStringLiteral("workspace/openedModels"), opened);
    // The Train tab's folder when it holds a run (a folder name typed for a run not started yet is not kept).
    const QString run = p.dashboard ? p.dashboard->outputFolder() : QString();
    s.setValue(QStringLiteral("workspace/train/out"),
               QFileInfo::exists(run + QStringLiteral("/recipe.json")) ? QFileInfo(run).absoluteFilePath() : QString());
    QDir().mkpath(dir());
    p.canvas->image().save(dir() + QStringLiteral("/canvas.png"));
    p.canvas->mask().save(dir() + QStringLiteral("/mask.png"));
    p.history->save(dir() + QStringLiteral("/history"));
    s.sync();
}

QStringList Workspace::restoreFiles(const WorkspaceParts& p) {
    QStringList missing;
    if (!exists()) return missing;
    int skipped = 0;
    p.history->load(dir() + QStringLiteral("/history"), &skipped);
    if (skipped > 0) missing << QObject::tr("%n history entries (unreadable files)", nullptr, skipped);
    const QImage canvas(dir() + QStringLiteral("/canvas.png"));
    const QImage mask(dir() + QStringLiteral("/mask.png"));
    if (!canvas.isNull()) p.canvas->setImage(canvas);
    if (!mask.isNull()) p.canvas->setMask(mask);
    return missing;
}

QStringList Workspace::restoreSettings(const WorkspaceParts& p,
                                       const std::function<bool(const QString&, QString*)>& open) {
    QStringList missing;
    if (!exists()) return missing;
    QSettings s;
    for (const QString& path : s.value(QStringLiteral("workspace/openedModels")).toStringList()) {
        bool listed = false;
        for (const auto& m : p.settings->models()) listed |= QString::fromStdString(m.path) == path;
        QString why;
        if (!listed && !open(path, &why)) missing << QObject::tr("model %1 (%2)").arg(path, why);
    }
    const QString run = s.value(QStringLiteral("workspace/train/out")).toString();
    if (p.dashboard && !run.isEmpty()) {
        if (QFileInfo(run).isDir()) p.dashboard->setOutputFolder(run);
        else missing << QObject::tr("the Train tab's run folder %1 (no longer there)").arg(run);
    }
    p.settings->restoreState(s, &missing);
    // Panels after the model: their ranges (t, strength) depend on it.
    for (auto* panel : p.panels) panel->restoreState(s);
    return missing;
}

}  // namespace ui
