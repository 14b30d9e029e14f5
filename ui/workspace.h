#pragma once
// Session persistence of the Studio: what a user set up comes back after a quit, a signal or a
// crash (the main window autosaves every 30 s when something changed). Kept: the shared settings
// and every mode's options (QSettings, keys under workspace/), the canvas and mask, the history
// strip, the Train tab's run folder (its recipe fills the form, its metrics the chart), and the
// models the user opened (run folders, checkpoints, IF folders), which are
// re-opened first so the selected model, its prompts and fields can be restored. What cannot be
// restored is returned by name, for a visible message.
#include <QList>
#include <QString>
#include <QStringList>
#include <functional>

namespace ui {

class HistoryStrip;
class ImageCanvas;
class ModePanel;
class SettingsPanel;
class TrainDashboard;

struct WorkspaceParts {
    SettingsPanel* settings = nullptr;
    QList<ModePanel*> panels;
    ImageCanvas* canvas = nullptr;
    HistoryStrip* history = nullptr;
    TrainDashboard* dashboard = nullptr;  // the Train tab's run folder (its form and chart follow)
};

class Workspace {
public:
    static QString dir();  // <AppData>/workspace
    static bool exists();  // a workspace was saved before
    static void save(const WorkspaceParts& parts);
    // Canvas, mask and history (independent of the models); unreadable history entries are named.
    static QStringList restoreFiles(const WorkspaceParts& parts);
    // Re-opens the models the user had opened (`open` returns false with a reason), then restores
    // the selected model, mode, shared fields and every panel. Returns what could not be restored.
    static QStringList restoreSettings(const WorkspaceParts& parts,
                                       const std::function<bool(const QString& path, QString* why)>& open);
};

}  // namespace ui
