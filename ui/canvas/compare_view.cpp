#include "ui/canvas/compare_view.h"

#include <algorithm>

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>

namespace ui {

namespace {
constexpr int kMargin = 6;
constexpr int kLabelHeight = 18;
const QColor kBackground(0x20, 0x21, 0x24);
}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
    setMinimumSize(200, 200);
    setFocusPolicy(Qt::StrongFocus);
    setCursor(Qt::SplitHCursor);
}

void CompareView::setImages(const QImage& a, const QString& labelA, const QImage& b, const QString& labelB) {
    m_a = a;
    m_b = b;
    m_labelA = labelA;
    m_labelB = labelB;
    update();
}

void CompareView::setLayout(Layout layout) {
    m_layout = layout;
    setCursor(layout == Layout::Slider ? Qt::SplitHCursor : Qt::ArrowCursor);
    update();
}

void CompareView::setSplit(double fraction) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    if (fraction == m_split) return;
    m_split = fraction;
    update();
    Q_EMIT splitChanged(m_split);
}

QRect CompareView::fitRect(QSize image, QRect box) const {
    if (image.isEmpty() || box.isEmpty()) return {};
    // Whole-pixel enlargement when it fits, smooth fit otherwise.
    const int k = std::min(box.width() / image.width(), box.height() / image.height());
    QSize s = k >= 1 ? image * k : image.scaled(box.size(), Qt::KeepAspectRatio);
    return QRect(box.x() + (box.width() - s.width()) / 2, box.y() + (box.height() - s.height()) / 2,
                 s.width(), s.height());
}

QRect CompareView::imageRect() const {
    const QImage& ref = m_b.isNull() ? m_a : m_b;
    return fitRect(ref.size(), rect().adjusted(kMargin, kMargin + kLabelHeight, -kMargin, -kMargin));
}

void CompareView::render(QPainter& p) const {
    p.fillRect(rect(), kBackground);
    p.setPen(QColor(0x9a, 0xa0, 0xa6));
    if (m_a.isNull() && m_b.isNull()) {
        p.drawText(rect(), Qt::AlignCenter, tr("Compare: run something with an input image"));
        return;
    }
    const bool smooth = false;  // nearest neighbour: pixels of small images stay visible
    p.setRenderHint(QPainter::SmoothPixmapTransform, smooth);
    if (m_layout == Layout::SideBySide) {
        const QRect all = rect().adjusted(kMargin, kMargin + kLabelHeight, -kMargin, -kMargin);
        const int half = (all.width() - kMargin) / 2;
        const QRect left(all.x(), all.y(), half, all.height());
        const QRect right(all.x() + half + kMargin, all.y(), half, all.height());
        const QRect ra = fitRect(m_a.size(), left), rb = fitRect(m_b.size(), right);
        if (!m_a.isNull()) p.drawImage(ra, m_a);
        if (!m_b.isNull()) p.drawImage(rb, m_b);
        p.drawText(QRect(left.x(), kMargin, left.width(), kLabelHeight), Qt::AlignCenter, m_labelA);
        p.drawText(QRect(right.x(), kMargin, right.width(), kLabelHeight), Qt::AlignCenter, m_labelB);
        return;
    }
    const QRect r = imageRect();
    const int splitX = r.x() + int(m_split * r.width() + 0.5);
    if (!m_b.isNull()) p.drawImage(r, m_b);
    if (!m_a.isNull()) {
        p.save();
        p.setClipRect(QRect(r.x(), r.y(), splitX - r.x(), r.height()));
        p.drawImage(r, m_a);
        p.restore();
    }
    p.setPen(QPen(QColor(255, 255, 255, 220), 2));
    p.drawLine(splitX, r.top(), splitX, r.bottom());
    p.setPen(QColor(0x9a, 0xa0, 0xa6));
    p.drawText(QRect(r.x(), kMargin, r.width() / 2, kLabelHeight), Qt::AlignLeft | Qt::AlignVCenter,
               QStringLiteral("◀ ") + m_labelA);
    p.drawText(QRect(r.x() + r.width() / 2, kMargin, r.width() - r.width() / 2, kLabelHeight),
               Qt::AlignRight | Qt::AlignVCenter, m_labelB + QStringLiteral(" ▶"));
}

QImage CompareView::rendered() const {
    QImage img(size(), QImage::Format_RGB32);
    QPainter p(&img);
    render(p);
    return img;
}

void CompareView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    render(p);
}

void CompareView::splitAt(double x) {
    const QRect r = imageRect();
    if (r.width() <= 0 || m_layout != Layout::Slider) return;
    setSplit((x - r.x()) / double(r.width()));
}

void CompareView::mousePressEvent(QMouseEvent* e) {
    if (e->button() == Qt::LeftButton) splitAt(e->position().x());
}

void CompareView::mouseMoveEvent(QMouseEvent* e) {
    if (e->buttons() & Qt::LeftButton) splitAt(e->position().x());
}

void CompareView::keyPressEvent(QKeyEvent* e) {
    if (e->key() == Qt::Key_Left) return setSplit(m_split - 0.05);
    if (e->key() == Qt::Key_Right) return setSplit(m_split + 0.05);
    QWidget::keyPressEvent(e);
}

}  // namespace ui
