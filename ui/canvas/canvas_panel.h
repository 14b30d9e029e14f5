#pragma once
// The canvas with its tool bar (open, pen, eraser, mask brush, undo, mask import/export, ink
// and overlay colours) and brush sliders. The Size slider follows the [ and ] keys.
#include <QWidget>
#include <functional>

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
    // A dropped saved result (a PNG carrying a ds.recipe chunk, or a .json recipe) goes to
    // `handler` instead of replacing the drawing; any other image goes onto the canvas.
    void setRecipeDropHandler(std::function<void(const QString& path)> handler);

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
