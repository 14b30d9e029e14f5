#include "ui/results/results_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QResizeEvent>
#include <QSettings>
#include <QSlider>
#include <QStackedWidget>
#include <QVBoxLayout>

#include "core/engine/engine.h"
#include "core/engine/hashing.h"
#include "core/engine/recipe.h"
#include "ui/bridge/image_convert.h"
#include "ui/canvas/compare_view.h"

namespace ui {

namespace {
QLabel* makeView(const QString& title, QWidget* parent, int minSide) {
    auto* label = new QLabel(parent);
    label->setMinimumSize(minSide, minSide);
    label->setAlignment(Qt::AlignCenter);
    label->setStyleSheet(QStringLiteral("background:#202124;color:#9aa0a6;border-radius:6px;"));
    label->setText(title);
    return label;
}
}  // namespace

ResultsPanel::ResultsPanel(QWidget* parent) : QWidget(parent) {
    auto* col = new QVBoxLayout(this);
    col->setContentsMargins(0, 0, 0, 0);
    auto* live = new QHBoxLayout;
    m_xt = makeView(tr("x_t"), this, 140);
    m_xt->setObjectName(QStringLiteral("liveXt"));
    m_x0 = makeView(tr("predicted x0"), this, 140);
    m_x0->setObjectName(QStringLiteral("liveX0"));
    m_viewLive = makeView(tr("x0 through the view"), this, 140);
    // Each live view with a caption above it (the x_t caption carries step and t).
    auto captioned = [&](QLabel* view, QLabel* caption) {
        auto* box = new QWidget(this);
        auto* v = new QVBoxLayout(box);
        v->setContentsMargins(0, 0, 0, 0);
        v->setSpacing(2);
        caption->setAlignment(Qt::AlignCenter);
        v->addWidget(caption);
        v->addWidget(view, 1);
        live->addWidget(box, 1);
        return box;
    };
    m_xtCaption = new QLabel(tr("x_t"), this);
    m_xtCaption->setObjectName(QStringLiteral("xtCaption"));
    m_viewCaption = new QLabel(tr("x0 through the view"), this);
    captioned(m_xt, m_xtCaption);
    captioned(m_x0, new QLabel(tr("x0 (clean estimate)"), this));
    m_viewBox = captioned(m_viewLive, m_viewCaption);
    m_viewBox->setVisible(false);
    m_figure = makeView(tr("Result"), this, 280);
    m_figure->setObjectName(QStringLiteral("figure"));
    m_compare = new CompareView(this);
    m_resultStack = new QStackedWidget(this);
    m_resultStack->addWidget(m_figure);
    m_resultStack->addWidget(m_compare);
    m_resultView = new QComboBox(this);
    m_resultView->addItems({tr("Figure"), tr("Compare (slider)"), tr("Side by side")});
    m_resultView->setToolTip(tr("Show the labelled figure, or compare two images (e.g. the model-size "
                                "input and the result) with a slider or side by side"));
    m_compareA = new QComboBox(this);
    m_compareB = new QComboBox(this);
    m_compareRow = new QWidget(this);
    auto* cmpRow = new QHBoxLayout(m_compareRow);
    cmpRow->setContentsMargins(0, 0, 0, 0);
    cmpRow->addWidget(new QLabel(tr("A"), m_compareRow));
    cmpRow->addWidget(m_compareA, 1);
    cmpRow->addWidget(new QLabel(tr("B"), m_compareRow));
    cmpRow->addWidget(m_compareB, 1);
    m_compareRow->setVisible(false);
    auto* scrubRow = new QHBoxLayout;
    m_scrubber = new QSlider(Qt::Horizontal, this);
    m_scrubber->setObjectName(QStringLiteral("scrubber"));
    m_scrubber->setEnabled(false);
    m_scrubX0 = new QCheckBox(tr("x0 for GIF"), this);
    auto* gif = new QPushButton(tr("Export…"), this);
    gif->setToolTip(tr("Export the trajectory as an animated GIF or an MP4 video"));
    auto* rerun = new QPushButton(tr("Re-run && compare"), this);
    rerun->setToolTip(tr("Run the shown result's recipe again and report whether the pixels match"));
    auto* save = new QPushButton(tr("Save…"), this);
    scrubRow->addWidget(new QLabel(tr("Trajectory"), this));
    scrubRow->addWidget(m_scrubber, 1);
    auto* buttonRow = new QHBoxLayout;
    buttonRow->addWidget(m_scrubX0);
    buttonRow->addWidget(m_resultView);
    buttonRow->addStretch(1);
    buttonRow->addWidget(gif);
    buttonRow->addWidget(rerun);
    buttonRow->addWidget(save);
    col->addLayout(live, 2);
    col->addLayout(scrubRow);
    col->addLayout(buttonRow);
    col->addWidget(m_compareRow);
    col->addWidget(m_resultStack, 5);
    connect(m_scrubber, &QSlider::valueChanged, this, &ResultsPanel::showScrubbed);
    connect(m_resultView, &QComboBox::currentIndexChanged, this, &ResultsPanel::setResultView);
    connect(m_compareA, &QComboBox::currentIndexChanged, this, &ResultsPanel::updateCompare);
    connect(m_compareB, &QComboBox::currentIndexChanged, this, &ResultsPanel::updateCompare);
    connect(m_scrubX0, &QCheckBox::toggled, this, [this] { showScrubbed(m_scrubber->value()); });
    connect(gif, &QPushButton::clicked, this, &ResultsPanel::exportGif);
    connect(rerun, &QPushButton::clicked, this, &ResultsPanel::rerunRequested);
    connect(save, &QPushButton::clicked, this, &ResultsPanel::saveResult);
}

QPixmap ResultsPanel::fitted(const QImage& image, const QLabel* view) const {
    if (image.isNull()) return {};
    const QSize box = view->size() * 0.96;
    // Integer nearest-neighbour upscaling keeps 28-px digits crisp.
    const int k = std::max(1, std::min(box.width() / std::max(1, image.width()), box.height() / std::max(1, image.height())));
    QImage up = image.scaled(image.size() * k, Qt::KeepAspectRatio, Qt::FastTransformation);
    if (up.width() > box.width() || up.height() > box.height())
        up = image.scaled(box, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return QPixmap::fromImage(up);
}

void ResultsPanel::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    if (!m_lastFigure.isNull()) setViewingDistance(m_mode == Mode::Hybrid ? m_distance : 0);
    if (m_scrubber->isEnabled()) showScrubbed(m_scrubber->value());
}

void ResultsPanel::beginRun(Mode mode) {
    m_mode = mode;
    m_viewBox->setVisible(mode == Mode::Anagram);
    m_viewLive->clear();
}

void ResultsPanel::showFrame(const QImage& xt, const QImage& x0, int step, int total, double t) {
    m_xt->setPixmap(fitted(xt, m_xt));
    m_x0->setPixmap(fitted(x0, m_x0));
    m_xt->setToolTip(tr("step %1/%2, t = %3").arg(step).arg(total).arg(t));
    if (m_mode == Mode::Denoise)
        m_xtCaption->setText(t < 0 ? tr("z = ε (pure noise)") : tr("z = x + σ ε, σ = %1").arg(t));
    else
        m_xtCaption->setText(t < 0 ? tr("x_t — step %1/%2, clean").arg(step).arg(total)
                                   : tr("x_t — step %1/%2, t = %3").arg(step).arg(total).arg(t));
}

void ResultsPanel::showFrameViews(const QStringList& names, const QList<QImage>& views) {
    if (views.isEmpty()) return;
    // The last view is the transformed one (the first is the identity in the GUI's anagrams).
    m_viewBox->setVisible(true);
    m_viewLive->setPixmap(fitted(views.last(), m_viewLive));
    QString view = names.last();
    view.remove(QStringLiteral("view "));
    m_viewCaption->setText(tr("x0 through %1").arg(view));
}

void ResultsPanel::showOutput(const PartAOutput& out) {
    m_last = out;
    showFigure(out.figure, out.recipe);
    {  // compare choices: the model-size input, each result, each named panel
        const QSignalBlocker ba(m_compareA), bb(m_compareB);
        m_compareA->clear();
        m_compareB->clear();
        for (const QString& c : compareChoices()) {
            m_compareA->addItem(c);
            m_compareB->addItem(c);
        }
        QString a = QStringLiteral("input"), b = QStringLiteral("result 1");
        if (m_mode == Mode::Anagram && out.panels.size() >= 2) {
            a = QStringLiteral("result 1");
            b = out.panels.last().first;
        } else if (m_mode == Mode::Hybrid) {
            a = QStringLiteral("low-pass");
            b = QStringLiteral("high-pass");
        }
        m_compareA->setCurrentIndex(std::max(0, m_compareA->findText(a)));
        m_compareB->setCurrentIndex(std::max(0, m_compareB->findText(b)));
    }
    updateCompare();
    const QSignalBlocker block(m_scrubber);
    m_scrubber->setEnabled(!out.trajectoryXt.isEmpty());
    m_scrubber->setRange(0, std::max(0, int(out.trajectoryXt.size()) - 1));
    m_scrubber->setValue(m_scrubber->maximum());
}

void ResultsPanel::showFigure(const QImage& figure, const QString& recipe) {
    m_lastFigure = figure;
    m_lastRecipe = recipe;
    setViewingDistance(m_mode == Mode::Hybrid ? m_distance : 0);
}

void ResultsPanel::setViewingDistance(int d) {
    m_distance = d;
    if (d <= 0 || m_last.images.isEmpty() || m_lastRecipe != m_last.recipe) {
        m_figure->setPixmap(fitted(m_lastFigure, m_figure));
        return;
    }
    // The result images only (labels stay readable elsewhere), each shrunk by 1 + d and enlarged
    // back: what the hybrid looks like from further away.
    const QImage& first = m_last.images.first();
    const int side = std::max(first.width(), first.height());
    QImage row(QSize(side * int(m_last.images.size()) + 4 * (int(m_last.images.size()) - 1), side), QImage::Format_RGB32);
    row.fill(QColor(0x20, 0x21, 0x24));
    QPainter p(&row);
    for (int i = 0; i < m_last.images.size(); ++i) {
        const QImage& img = m_last.images[i];
        const QImage far = img.scaled(img.size() / (1 + d), Qt::KeepAspectRatio, Qt::SmoothTransformation)
                               .scaled(img.size(), Qt::KeepAspectRatio, Qt::SmoothTransformation);
        p.drawImage(QPoint(i * (side + 4), 0), far);
    }
    p.end();
    m_figure->setPixmap(fitted(row, m_figure));
}

void ResultsPanel::showScrubbed(int index) {
    const auto& frames = m_scrubX0->isChecked() ? m_last.trajectoryX0 : m_last.trajectoryXt;
    if (index < 0 || index >= frames.size()) return;
    m_xt->setPixmap(fitted(m_last.trajectoryXt[index], m_xt));
    m_x0->setPixmap(fitted(m_last.trajectoryX0[index], m_x0));
    m_xt->setToolTip(tr("frame %1, t = %2").arg(index + 1).arg(m_last.trajectoryT.value(index)));
    const double t = m_last.trajectoryT.value(index);
    m_xtCaption->setText(t < 0 ? tr("x_t — frame %1/%2, clean").arg(index + 1).arg(frames.size())
                               : tr("x_t — frame %1/%2, t = %3").arg(index + 1).arg(frames.size()).arg(t));
    if (index < m_last.trajectoryView.size()) m_viewLive->setPixmap(fitted(m_last.trajectoryView[index], m_viewLive));
}

QStringList ResultsPanel::compareChoices() const {
    QStringList names;
    for (const auto& [name, img] : m_last.panels)
        if (name == QStringLiteral("input")) names << name;
    for (int i = 0; i < m_last.images.size(); ++i) names << QStringLiteral("result %1").arg(i + 1);
    for (const auto& [name, img] : m_last.panels)
        if (name != QStringLiteral("input")) names << name;
    return names;
}

bool ResultsPanel::setCompare(const QString& a, const QString& b) {
    const int ia = m_compareA->findText(a), ib = m_compareB->findText(b);
    if (ia < 0 || ib < 0) return false;
    m_compareA->setCurrentIndex(ia);
    m_compareB->setCurrentIndex(ib);
    updateCompare();
    return true;
}

void ResultsPanel::setResultView(int index) {
    index = std::clamp(index, 0, 2);
    if (m_resultView->currentIndex() != index) return m_resultView->setCurrentIndex(index);  // re-enters
    m_resultStack->setCurrentIndex(index == 0 ? 0 : 1);
    m_compareRow->setVisible(index != 0);
    m_compare->setLayout(index == 2 ? CompareView::Layout::SideBySide : CompareView::Layout::Slider);
    updateCompare();
}

void ResultsPanel::updateCompare() {
    auto find = [this](const QString& name) -> QImage {
        if (name.startsWith(QStringLiteral("result "))) return m_last.images.value(name.mid(7).toInt() - 1);
        for (const auto& [n, img] : m_last.panels)
            if (n == name) return img;
        return {};
    };
    const QString a = m_compareA->currentText(), b = m_compareB->currentText();
    m_compare->setImages(find(a), a, find(b), b);
}

void ResultsPanel::exportStrip() {
    const auto& frames = m_scrubX0->isChecked() ? m_last.trajectoryX0 : m_last.trajectoryXt;
    if (frames.isEmpty()) return Q_EMIT status(tr("Run something first: there is no trajectory to export"));
    const QString f = QFileDialog::getSaveFileName(this, tr("Export trajectory strip"), QStringLiteral("trajectory.png"),
                                                   tr("PNG (*.png)"));
    if (f.isEmpty()) return;
    // About ten evenly spaced frames, the last one always included, one row.
    std::vector<ds::Image> tiles;
    const int n = int(frames.size()), every = std::max(1, n / 10);
    for (int i = 0; i < n; ++i)
        if (i % every == 0 || i == n - 1) tiles.push_back(fromQImage(frames[i]));
    try {
        ds::write_png(ds::make_grid(tiles, int(tiles.size()), 2, std::max(1, 96 / std::max(1, tiles[0].height))),
                      f.toStdString(), {{"ds.recipe", m_lastRecipe.toStdString()}});
        Q_EMIT status(tr("Wrote %1").arg(f));
    } catch (const std::exception& e) {
        Q_EMIT status(tr("Cannot write the strip: %1").arg(QString::fromUtf8(e.what())));
    }
}

void ResultsPanel::exportGif() {
    const auto& frames = m_scrubX0->isChecked() ? m_last.trajectoryX0 : m_last.trajectoryXt;
    if (frames.isEmpty()) return Q_EMIT status(tr("Run something first: there is no trajectory to export"));
    QString filters = tr("Animated GIF (*.gif)");
    if (ds::video_export_available()) filters += tr(";;MP4 video (*.mp4)");
    filters += tr(";;AVI video, Motion-JPEG (*.avi)");
    const QString f = QFileDialog::getSaveFileName(this, tr("Export trajectory"), QStringLiteral("trajectory.gif"), filters);
    if (f.isEmpty()) return;
    // Frames enlarged to about 160 px, each with its frame number and timestep burned in above it.
    std::vector<ds::Image> imgs;
    const int n = int(frames.size());
    for (int i = 0; i < n; ++i) {
        const QImage& q = frames[i];
        const ds::Image big = fromQImage(q.scaled(q.size() * std::max(1, 160 / std::max(1, q.height()))));
        const double t = m_last.trajectoryT.value(i, -1);
        const std::string caption = "frame " + std::to_string(i + 1) + "/" + std::to_string(n) +
                                    (t >= 0 ? "  t=" + QString::number(t).toStdString() : std::string());
        imgs.push_back(ds::add_caption(big, caption));
    }
    try {
        ds::write_animation(imgs, f.toStdString(), 8, 150);  // .mp4/.avi: video at 12.5 fps
        Q_EMIT status(tr("Wrote %1").arg(f));
    } catch (const std::exception& e) {
        Q_EMIT status(tr("Cannot write the trajectory: %1").arg(QString::fromUtf8(e.what())));
    }
}

void ResultsPanel::saveResult() {
    if (m_lastFigure.isNull()) return Q_EMIT status(tr("Nothing to save yet"));
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("outputFolder"), QDir::homePath()).toString();
    const QString f = QFileDialog::getSaveFileName(this, tr("Save result"), dir + QStringLiteral("/result.png"),
                                                   tr("PNG (*.png)"));
    if (f.isEmpty()) return;
    try {
        ds::save_result_png(fromQImage(m_lastFigure), f.toStdString(), m_lastRecipe.toStdString());
        settings.setValue(QStringLiteral("outputFolder"), QFileInfo(f).path());
        Q_EMIT status(tr("Saved %1 with its recipe").arg(f));
    } catch (const std::exception& e) {
        Q_EMIT status(tr("Cannot save: %1").arg(QString::fromUtf8(e.what())));
    }
}

}  // namespace ui
