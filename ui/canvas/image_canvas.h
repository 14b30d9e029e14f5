#pragma once
// The canvas: shows and edits the input image (pen / eraser) and the inpainting mask (brush /
// eraser with size and hardness) at document resolution, with per-stroke undo/redo, zoom/pan,
// an overlay of the mask (and of the mask the engine actually used), and image loading by
// dialog, drag and drop or paste.
#include <QColor>
#include <QImage>
#include <QPointF>
#include <QVector>
#include <QWidget>

#include <functional>

class QMimeData;

namespace ui {

class ImageCanvas : public QWidget {
    Q_OBJECT
public:
    enum class Tool { Pen, Eraser, MaskBrush, MaskEraser };
    static constexpr int kMaxSide = 2048;  // larger images are downscaled (with a notice)

    explicit ImageCanvas(QWidget* parent = nullptr);

    // A blank document of `size` filled with `paper` (MNIST: black, strokes light).
    void newDocument(QSize size, QColor paper, QColor ink);
    // Loads an image file; false with a message for unreadable files / non-images.
    bool loadImage(const QString& path, QString* error = nullptr);
    void setImage(const QImage& image);  // undoable
    QImage image() const { return m_image; }
    // The mask as Grayscale8 at document size: 255 = generate, 0 = keep.
    QImage mask() const;
    void setMask(const QImage& mask);  // any size: resized to the document (undoable)
    bool maskIsEmpty() const;
    bool isBlank() const;  // every pixel the colour of the first: nothing drawn or loaded
    // The mask the engine used (after resize/grow/feather), drawn as a second tint; null = none.
    void setUsedMask(const QImage& mask);

    void setTool(Tool tool);
    Tool tool() const { return m_tool; }
    void setBrushSize(int pixels);  // document pixels, 1..512
    int brushSize() const { return m_brush; }
    void setHardness(double hardness);  // 0 = soft edge .. 1 = hard
    double hardness() const { return m_hardness; }
    void setInk(QColor ink) { m_ink = ink; }
    QColor ink() const { return m_ink; }
    void setOverlay(QColor colour, double opacity);
    QColor overlayColor() const { return m_overlay; }
    double overlayOpacity() const { return m_overlayOpacity; }
    void setMaskVisible(bool visible);
    // Called with the local path of a dropped file before the canvas loads it; returning true
    // means the file was handled elsewhere (e.g. a saved result whose recipe restores settings).
    void setDropHandler(std::function<bool(const QString&)> handler) { m_dropHandler = std::move(handler); }
    // What a drop of `mime` does (used by dropEvent; public so tests can drive it directly).
    void dropMime(const QMimeData* mime);

    bool canUndo() const { return !m_undo.isEmpty(); }
    bool canRedo() const { return !m_redo.isEmpty(); }
    double zoom() const { return m_zoom; }
    // Widget position -> document position (for tests and the cursor).
    QPointF toDocument(QPointF widgetPos) const;
    QPointF toWidget(QPointF documentPos) const;

public Q_SLOTS:
    void undo();
    void redo();
    void clearMask();
    void invertMask();
    void clearImage();
    void fitToView();
    void pasteFromClipboard();

Q_SIGNALS:
    void edited();              // the user changed the image or the mask (after a stroke)
    void notice(QString text);  // e.g. "downscaled from 6000x4000", "not an image"
    void undoStateChanged();
    void brushSizeChanged(int pixels);  // also from the [ and ] keys

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    struct Snapshot {
        QImage image;
        QImage mask;
    };
    void pushUndo();
    void dab(QPointF doc);
    void strokeTo(QPointF doc);
    QImage fitted(const QImage& source, QString* note) const;

    QImage m_image;  // RGB32 document
    QImage m_mask;   // ARGB32 premultiplied; alpha = mask value
    QImage m_usedMask;
    QColor m_paper = Qt::black, m_ink = Qt::white;
    QColor m_overlay = QColor(255, 64, 64);
    double m_overlayOpacity = 0.45;
    bool m_maskVisible = true;
    Tool m_tool = Tool::Pen;
    int m_brush = 24;
    double m_hardness = 0.8;
    double m_zoom = 1.0;
    QPointF m_offset;          // widget position of the document's top-left corner
    bool m_stroking = false, m_panning = false, m_userZoomed = false;
    QPointF m_last, m_panStart, m_cursor;
    QVector<Snapshot> m_undo, m_redo;
    std::function<bool(const QString&)> m_dropHandler;
};

}  // namespace ui
