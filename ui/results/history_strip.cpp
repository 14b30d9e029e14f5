#include "ui/results/history_strip.h"

#include <QDir>

#include "core/engine/engine.h"
#include "ui/bridge/image_convert.h"

namespace ui {

namespace {
constexpr int kFigureRole = Qt::UserRole;
constexpr int kRecipeRole = Qt::UserRole + 1;
constexpr int kThumbSide = 72;
}  // namespace

HistoryStrip::HistoryStrip(QWidget* parent) : QListWidget(parent) {
    setObjectName(QStringLiteral("history"));
    setViewMode(QListView::IconMode);
    setFlow(QListView::LeftToRight);
    setWrapping(false);
    setIconSize(QSize(kThumbSide, kThumbSide));
    setFixedHeight(kThumbSide + 34);
    connect(this, &QListWidget::itemClicked, this, [this](QListWidgetItem* item) {
        Q_EMIT shown(item->data(kFigureRole).value<QImage>(), item->data(kRecipeRole).toString());
    });
    connect(this, &QListWidget::itemDoubleClicked, this,
            [this](QListWidgetItem* item) { Q_EMIT restoreRequested(item->data(kRecipeRole).toString()); });
}

void HistoryStrip::add(const QImage& figure, const QImage& thumbnail, const QString& recipe, const QString& tooltip) {
    // The thumbnail fills the icon (nearest-neighbour keeps 28-px digits crisp).
    const QImage& source = thumbnail.isNull() ? figure : thumbnail;
    const QImage thumb = source.scaled(kThumbSide, kThumbSide, Qt::KeepAspectRatio,
                                       source.width() < kThumbSide ? Qt::FastTransformation : Qt::SmoothTransformation);
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(thumb)), QString());
    item->setData(kFigureRole, figure);
    item->setData(kRecipeRole, recipe);
    item->setData(Qt::UserRole + 2, thumb);
    item->setToolTip(tooltip);
    insertItem(0, item);
    while (count() > kLimit) delete takeItem(count() - 1);
}

QImage HistoryStrip::figureAt(int row) const { return item(row) ? item(row)->data(kFigureRole).value<QImage>() : QImage(); }
QString HistoryStrip::recipeAt(int row) const { return item(row) ? item(row)->data(kRecipeRole).toString() : QString(); }

bool HistoryStrip::save(const QString& path) const {
    QDir dir(path);
    dir.removeRecursively();
    QDir().mkpath(path);
    bool ok = true;
    for (int i = 0; i < count(); ++i) {
        const QString base = dir.filePath(QStringLiteral("%1").arg(i, 3, 10, QLatin1Char('0')));
        try {
            ds::write_png(fromQImage(figureAt(i)), (base + QStringLiteral(".png")).toStdString(),
                          {{"ds.recipe", recipeAt(i).toStdString()}, {"ds.tooltip", item(i)->toolTip().toStdString()}});
            ok &= item(i)->data(Qt::UserRole + 2).value<QImage>().save(base + QStringLiteral(".thumb.png"));
        } catch (const std::exception&) {
            ok = false;
        }
    }
    return ok;
}

int HistoryStrip::load(const QString& path, int* skipped) {
    QDir dir(path);
    int added = 0, bad = 0;
    const auto files = dir.entryList({QStringLiteral("[0-9][0-9][0-9].png")}, QDir::Files, QDir::Name);
    for (auto it = files.rbegin(); it != files.rend(); ++it) {  // oldest first, so the newest ends on top
        const QString file = dir.filePath(*it);
        const QImage figure(file);
        QString recipe, tooltip;
        try {
            for (const auto& [k, v] : ds::read_png_text(file.toStdString())) {
                if (k == "ds.recipe") recipe = QString::fromStdString(v);
                if (k == "ds.tooltip") tooltip = QString::fromStdString(v);
            }
        } catch (const std::exception&) {
            recipe.clear();
        }
        if (figure.isNull() || recipe.isEmpty()) {
            ++bad;
            continue;
        }
        QString thumbFile = file;
        thumbFile.replace(QStringLiteral(".png"), QStringLiteral(".thumb.png"));
        add(figure, QImage(thumbFile), recipe, tooltip);
        ++added;
    }
    if (skipped) *skipped = bad;
    return added;
}

}  // namespace ui
