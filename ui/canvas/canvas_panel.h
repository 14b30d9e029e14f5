#pragma once
// The canvas with its tool bar (open, pen, eraser, mask brush, undo, mask import/export, ink
// and overlay colours) and brush sliders. The Size slider follows the [ and ] keys.
#include <QWidget>

class QSlider;

namespace ui {

class ImageCanvas;

class CanvasPanel : public QWidget {
    Q_OBJECT
public:
    explicit CanvasPanel(QWidget* parent = nullptr);
    ImageCanvas* canvas() const { return m_canvas; }
    QSlider* sizeSlider() const { return m_size; }
    // Shows the mask tools only where a mode reads the mask (inpainting).
    void setMaskToolsVisible(bool visible);

public Q_SLOTS:
    void openImage();

Q_SIGNALS:
    void notice(QString text);

private:
    ImageCanvas* m_canvas = nullptr;
    QSlider* m_size = nullptr;
    QList<QWidget*> m_maskTools;
};

}  // namespace ui
