#include "ui/canvas/image_canvas.h"

#include <QApplication>
#include <QClipboard>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileInfo>
#include <QImageReader>
#include <QMimeData>
#include <QMouseEvent>
#include <QPainter>
#include <QRadialGradient>
#include <QWheelEvent>
#include <cmath>

namespace ui {

namespace {
constexpr int kUndoLimit = 64;  // strokes kept for undo
}

ImageCanvas::ImageCanvas(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setAcceptDrops(true);
    setFocusPolicy(Qt::StrongFocus);
    setMinimumSize(240, 240);
    newDocument(QSize(280, 280), Qt::black, Qt::white);
}

void ImageCanvas::newDocument(QSize size, QColor paper, QColor ink) {
    m_paper = paper;
    m_ink = ink;
    m_image = QImage(size, QImage::Format_RGB32);
    m_image.fill(paper);
    m_mask = QImage(size, QImage::Format_ARGB32_Premultiplied);
    m_mask.fill(Qt::transparent);
    m_usedMask = {};
    m_undo.clear();
    m_redo.clear();
    m_userZoomed = false;
    fitToView();
    Q_EMIT undoStateChanged();
}

QImage ImageCanvas::fitted(const QImage& source, QString* note) const {
    if (source.width() <= kMaxSide && source.height() <= kMaxSide) return source;
    if (note)
        *note = tr("Large image (%1×%2) downscaled to fit %3 px")
                    .arg(source.width())
                    .arg(source.height())
                    .arg(kMaxSide);
    return source.scaled(kMaxSide, kMaxSide, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

bool ImageCanvas::loadImage(const QString& path, QString* error) {
    QImageReader reader(path);
    reader.setAutoTransform(true);
    const QSize size = reader.size();
    // Decode very large files at a reduced size instead of allocating the full image.
    if (size.isValid() && (size.width() > 4 * kMaxSide || size.height() > 4 * kMaxSide))
        reader.setScaledSize(size.scaled(kMaxSide, kMaxSide, Qt::KeepAspectRatio));
    QImage img = reader.read();
    if (img.isNull()) {
        const QString msg = tr("Cannot open '%1': %2").arg(QFileInfo(path).fileName(), reader.errorString());
        if (error) *error = msg;
        Q_EMIT notice(msg);
        return false;
    }
    QString note;
    img = fitted(img, &note);
    if (size.isValid() && img.size() != size && note.isEmpty())
        note = tr("Large image (%1×%2) downscaled to fit %3 px").arg(size.width()).arg(size.height()).arg(kMaxSide);
    setImage(img);
    if (!note.isEmpty()) Q_EMIT notice(note);
    return true;
}

void ImageCanvas::setImage(const QImage& image) {
    if (image.isNull()) return;
    pushUndo();
    m_image = fitted(image, nullptr).convertToFormat(QImage::Format_RGB32);
    if (m_mask.size() != m_image.size()) {
        m_mask = QImage(m_image.size(), QImage::Format_ARGB32_Premultiplied);
        m_mask.fill(Qt::transparent);
    }
    m_usedMask = {};
    m_userZoomed = false;
    fitToView();
    Q_EMIT edited();
}

QImage ImageCanvas::mask() const {
    QImage out(m_mask.size(), QImage::Format_Grayscale8);
    for (int y = 0; y < m_mask.height(); ++y) {
        const QRgb* src = reinterpret_cast<const QRgb*>(m_mask.constScanLine(y));
        uchar* dst = out.scanLine(y);
        for (int x = 0; x < m_mask.width(); ++x) dst[x] = uchar(qAlpha(src[x]));
    }
    return out;
}

void ImageCanvas::setMask(const QImage& mask) {
    if (mask.isNull()) return;
    pushUndo();
    QImage gray = mask.convertToFormat(QImage::Format_Grayscale8);
    if (gray.size() != m_image.size()) {
        Q_EMIT notice(tr("Mask resized from %1×%2 to the image's %3×%4")
                          .arg(gray.width())
                          .arg(gray.height())
                          .arg(m_image.width())
                          .arg(m_image.height()));
        gray = gray.scaled(m_image.size(), Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    }
    m_mask = QImage(m_image.size(), QImage::Format_ARGB32_Premultiplied);
    for (int y = 0; y < gray.height(); ++y) {
        const uchar* src = gray.constScanLine(y);
        QRgb* dst = reinterpret_cast<QRgb*>(m_mask.scanLine(y));
        for (int x = 0; x < gray.width(); ++x) dst[x] = qPremultiply(qRgba(255, 255, 255, src[x]));
    }
    update();
    Q_EMIT edited();
}

bool ImageCanvas::isBlank() const {
    if (m_image.isNull()) return true;
    const QImage img = m_image.convertToFormat(QImage::Format_RGB32);
    const QRgb first = img.pixel(0, 0);
    for (int y = 0; y < img.height(); ++y) {
        const auto* row = reinterpret_cast<const QRgb*>(img.constScanLine(y));
        for (int x = 0; x < img.width(); ++x)
            if (row[x] != first) return false;
    }
    return true;
}

bool ImageCanvas::maskIsEmpty() const {
    for (int y = 0; y < m_mask.height(); ++y) {
        const QRgb* p = reinterpret_cast<const QRgb*>(m_mask.constScanLine(y));
        for (int x = 0; x < m_mask.width(); ++x)
            if (qAlpha(p[x]) >= 128) return false;
    }
    return true;
}

void ImageCanvas::setUsedMask(const QImage& mask) {
    m_usedMask = mask.isNull() ? QImage() : mask.convertToFormat(QImage::Format_Grayscale8);
    update();
}

void ImageCanvas::setTool(Tool tool) {
    m_tool = tool;
    update();
}
void ImageCanvas::setBrushSize(int pixels) {
    const int size = std::clamp(pixels, 1, 512);
    if (size == m_brush) return;
    m_brush = size;
    update();
    Q_EMIT brushSizeChanged(size);
}
void ImageCanvas::setHardness(double hardness) { m_hardness = std::clamp(hardness, 0.0, 1.0); }
void ImageCanvas::setOverlay(QColor colour, double opacity) {
    m_overlay = colour;
    m_overlayOpacity = std::clamp(opacity, 0.0, 1.0);
    update();
}
void ImageCanvas::setMaskVisible(bool visible) {
    m_maskVisible = visible;
    update();
}

void ImageCanvas::pushUndo() {
    m_undo.append({m_image, m_mask});
    if (m_undo.size() > kUndoLimit) m_undo.removeFirst();
    m_redo.clear();
    Q_EMIT undoStateChanged();
}

void ImageCanvas::undo() {
    if (m_undo.isEmpty()) return;
    m_redo.append({m_image, m_mask});
    const Snapshot s = m_undo.takeLast();
    m_image = s.image;
    m_mask = s.mask;
    update();
    Q_EMIT undoStateChanged();
    Q_EMIT edited();
}

void ImageCanvas::redo() {
    if (m_redo.isEmpty()) return;
    m_undo.append({m_image, m_mask});
    const Snapshot s = m_redo.takeLast();
    m_image = s.image;
    m_mask = s.mask;
    update();
    Q_EMIT undoStateChanged();
    Q_EMIT edited();
}

void ImageCanvas::clearMask() {
    pushUndo();
    m_mask.fill(Qt::transparent);
    update();
    Q_EMIT edited();
}

void ImageCanvas::invertMask() {
    pushUndo();
    for (int y = 0; y < m_mask.height(); ++y) {
        QRgb* p = reinterpret_cast<QRgb*>(m_mask.scanLine(y));
        for (int x = 0; x < m_mask.width(); ++x) {
            const int a = 255 - qAlpha(p[x]);
            p[x] = qPremultiply(qRgba(255, 255, 255, a));
        }
    }
    update();
    Q_EMIT edited();
}

void ImageCanvas::clearImage() {
    pushUndo();
    m_image.fill(m_paper);
    update();
    Q_EMIT edited();
}

void ImageCanvas::pasteFromClipboard() {
    const QImage img = QApplication::clipboard()->image();
    if (img.isNull()) {
        Q_EMIT notice(tr("The clipboard holds no image"));
        return;
    }
    setImage(img);
}

void ImageCanvas::fitToView() {
    if (m_image.isNull() || width() <= 0) return;
    m_zoom = std::min(double(width()) / m_image.width(), double(height()) / m_image.height()) * 0.95;
    m_offset = QPointF((width() - m_image.width() * m_zoom) / 2, (height() - m_image.height() * m_zoom) / 2);
    update();
}

QPointF ImageCanvas::toDocument(QPointF p) const { return (p - m_offset) / m_zoom; }
QPointF ImageCanvas::toWidget(QPointF d) const { return d * m_zoom + m_offset; }

void ImageCanvas::dab(QPointF doc) {
    const bool onMask = m_tool == Tool::MaskBrush || m_tool == Tool::MaskEraser;
    const bool erase = m_tool == Tool::Eraser || m_tool == Tool::MaskEraser;
    QImage& target = onMask ? m_mask : m_image;
    QColor colour = onMask ? QColor(Qt::white) : (erase ? m_paper : m_ink);
    const double r = m_brush / 2.0;
    QRadialGradient g(doc, std::max(r, 0.5));
    QColor edge = colour;
    edge.setAlpha(0);
    g.setColorAt(0, colour);
    g.setColorAt(std::clamp(m_hardness, 0.0, 0.999), colour);
    g.setColorAt(1, edge);
    QPainter p(&target);
    p.setRenderHint(QPainter::Antialiasing);
    if (onMask && erase) p.setCompositionMode(QPainter::CompositionMode_DestinationOut);
    p.setPen(Qt::NoPen);
    p.setBrush(g);
    p.drawEllipse(doc, r, r);
}

void ImageCanvas::strokeTo(QPointF doc) {
    const double spacing = std::max(0.5, m_brush / 5.0);
    const QPointF d = doc - m_last;
    const double len = std::hypot(d.x(), d.y());
    const int n = std::max(1, int(std::ceil(len / spacing)));
    for (int i = 1; i <= n; ++i) dab(m_last + d * (double(i) / n));
    m_last = doc;
    update();
}

void ImageCanvas::mousePressEvent(QMouseEvent* e) {
    if (e->button() == Qt::MiddleButton || (e->button() == Qt::LeftButton && e->modifiers() & Qt::AltModifier)) {
        m_panning = true;
        m_panStart = e->position() - m_offset;
        return;
    }
    if (e->button() != Qt::LeftButton) return;
    pushUndo();
    m_stroking = true;
    m_last = toDocument(e->position());
    dab(m_last);
    update();
}

void ImageCanvas::mouseMoveEvent(QMouseEvent* e) {
    m_cursor = e->position();
    if (m_panning) {
        m_offset = e->position() - m_panStart;
        m_userZoomed = true;
    } else if (m_stroking) {
        strokeTo(toDocument(e->position()));
    }
    update();
}

void ImageCanvas::mouseReleaseEvent(QMouseEvent* e) {
    if (m_panning && (e->button() == Qt::MiddleButton || e->button() == Qt::LeftButton)) {
        m_panning = false;
        return;
    }
    if (m_stroking && e->button() == Qt::LeftButton) {
        m_stroking = false;
        Q_EMIT edited();
    }
}

void ImageCanvas::wheelEvent(QWheelEvent* e) {
    const double factor = std::pow(1.0015, e->angleDelta().y());
    const QPointF anchor = toDocument(e->position());
    m_zoom = std::clamp(m_zoom * factor, 0.05, 64.0);
    m_offset = e->position() - anchor * m_zoom;
    m_userZoomed = true;
    update();
}

void ImageCanvas::keyPressEvent(QKeyEvent* e) {
    if (e->key() == Qt::Key_BracketLeft) {
        setBrushSize(std::max(1, int(m_brush / 1.25)));
    } else if (e->key() == Qt::Key_BracketRight) {
        setBrushSize(int(m_brush * 1.25) + 1);
    } else if (e->key() == Qt::Key_V && e->modifiers() == Qt::ShiftModifier) {
        invertMask();
    } else if (e->matches(QKeySequence::Undo)) {
        undo();
    } else if (e->matches(QKeySequence::Redo) ||
               (e->key() == Qt::Key_Z && e->modifiers() == (Qt::ControlModifier | Qt::ShiftModifier))) {
        redo();
    } else if (e->matches(QKeySequence::Paste)) {
        pasteFromClipboard();
    } else {
        QWidget::keyPressEvent(e);
    }
}

void ImageCanvas::resizeEvent(QResizeEvent*) {
    if (!m_userZoomed) fitToView();
}

void ImageCanvas::dragEnterEvent(QDragEnterEvent* e) {
    if (e->mimeData()->hasUrls() || e->mimeData()->hasImage()) e->acceptProposedAction();
}

void ImageCanvas::dropEvent(QDropEvent* e) {
    dropMime(e->mimeData());
    e->acceptProposedAction();
}

void ImageCanvas::dropMime(const QMimeData* m) {
    if (m->hasUrls() && !m->urls().isEmpty()) {
        const QString path = m->urls().first().toLocalFile();
        if (path.isEmpty()) return Q_EMIT notice(tr("Only local image files can be dropped here"));
        if (m_dropHandler && m_dropHandler(path)) return;
        loadImage(path);  // reports unreadable files and non-images itself
    } else if (m->hasImage()) {
        setImage(qvariant_cast<QImage>(m->imageData()));
    }
}

void ImageCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), QColor(0x2a, 0x2b, 0x2e));
    const QRectF target(m_offset, QSizeF(m_image.size()) * m_zoom);
    p.setRenderHint(QPainter::SmoothPixmapTransform, m_zoom < 1.0);
    p.drawImage(target, m_image);
    if (m_maskVisible) {
        QImage tint(m_mask.size(), QImage::Format_ARGB32_Premultiplied);
        tint.fill(m_overlay);
        {
            QPainter tp(&tint);
            tp.setCompositionMode(QPainter::CompositionMode_DestinationIn);
            tp.drawImage(0, 0, m_mask);
        }
        p.setOpacity(m_overlayOpacity);
        p.drawImage(target, tint);
        if (!m_usedMask.isNull()) {  // the mask the engine used: cyan
            QImage used(m_usedMask.size(), QImage::Format_ARGB32_Premultiplied);
            for (int y = 0; y < used.height(); ++y) {
                const uchar* s = m_usedMask.constScanLine(y);
                QRgb* d = reinterpret_cast<QRgb*>(used.scanLine(y));
                for (int x = 0; x < used.width(); ++x) d[x] = qPremultiply(qRgba(64, 220, 255, s[x] / 2));
            }
            p.drawImage(target, used);
        }
        p.setOpacity(1.0);
    }
    p.setPen(QPen(QColor(255, 255, 255, 60)));
    p.drawRect(target);
    if (underMouse() && !m_panning) {  // brush outline
        p.setPen(QPen(QColor(255, 255, 255, 160), 1, Qt::DashLine));
        p.setBrush(Qt::NoBrush);
        p.drawEllipse(m_cursor, m_brush / 2.0 * m_zoom, m_brush / 2.0 * m_zoom);
    }
}

}  // namespace ui
