#pragma once
// The history strip: every result of the session, newest first, as a thumbnail of its first
// image; a click shows its figure, a double click restores its settings. Kept in the workspace
// as PNGs that carry their recipes (and the thumbnails, so they look the same after a restart).
#include <QListWidget>

namespace ui {

class HistoryStrip : public QListWidget {
    Q_OBJECT
public:
    explicit HistoryStrip(QWidget* parent = nullptr);
    static constexpr int kLimit = 24;

    void add(const QImage& figure, const QImage& thumbnail, const QString& recipe, const QString& tooltip);
    QImage figureAt(int row) const;
    QString recipeAt(int row) const;
    // Writes every entry into `dir` (replacing what was there); false if any file failed.
    bool save(const QString& dir) const;
    // Appends the entries saved in `dir`; unreadable files are skipped and counted.
    int load(const QString& dir, int* skipped = nullptr);

Q_SIGNALS:
    void shown(QImage figure, QString recipe);
    void restoreRequested(QString recipe);
};

}  // namespace ui
