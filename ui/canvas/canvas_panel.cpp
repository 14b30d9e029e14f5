#include "ui/canvas/canvas_panel.h"

#include <QColorDialog>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QToolButton>
#include <QVBoxLayout>

#include "core/engine/engine.h"
#include "ui/canvas/image_canvas.h"

namespace ui {

CanvasPanel::CanvasPanel(QWidget* parent) : QWidget(parent) {
    auto* col = new QVBoxLayout(this);
    col->setContentsMargins(0, 0, 0, 0);
    m_canvas = new ImageCanvas(this);
    auto* tools = new QHBoxLayout;
    auto tool = [&](const QString& text, const QString& tip, auto fn, bool mask = false) {
        auto* b = new QToolButton(this);
        b->setText(text);
        b->setToolTip(tip);
        connect(b, &QToolButton::clicked, this, fn);
        tools->addWidget(b);
        if (mask) m_maskTools << b;
        return b;
    };
    tool(tr("Open"), tr("Open an image (or drop / paste one)"), [this] { openImage(); });
    tool(tr("Pen"), tr("Draw (light ink on the MNIST canvas)"), [this] { m_canvas->setTool(ImageCanvas::Tool::Pen); });
    tool(tr("Eraser"), tr("Erase to paper"), [this] { m_canvas->setTool(ImageCanvas::Tool::Eraser); });
    tool(tr("Mask"), tr("Paint the inpainting mask (white = generate)"),
         [this] { m_canvas->setTool(ImageCanvas::Tool::MaskBrush); }, true);
    tool(tr("Unmask"), tr("Erase the mask"), [this] { m_canvas->setTool(ImageCanvas::Tool::MaskEraser); }, true);
    tool(tr("Invert"), tr("Invert the mask (Shift+V)"), [this] { m_canvas->invertMask(); }, true);
    tool(tr("Clear mask"), tr("Clear the mask"), [this] { m_canvas->clearMask(); }, true);
    tool(tr("Clear"), tr("Clear the drawing"), [this] { m_canvas->clearImage(); });
    auto* undo = tool(tr("Undo"), tr("Undo the last stroke (Ctrl+Z)"), [this] { m_canvas->undo(); });
    auto* redo = tool(tr("Redo"), tr("Redo (Ctrl+Shift+Z)"), [this] { m_canvas->redo(); });
    tool(tr("Import mask"), tr("Load a mask PNG"), [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Import mask"), QString(), tr("Images (*.png *.jpg *.bmp)"));
        if (f.isEmpty()) return;
        const QImage m(f);
        if (m.isNull()) return Q_EMIT notice(tr("Cannot read mask '%1'").arg(f));
        m_canvas->setMask(m);
    }, true);
    tool(tr("Export mask"), tr("Save the mask as PNG"), [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Export mask"), QStringLiteral("mask.png"), tr("PNG (*.png)"));
        if (!f.isEmpty() && !m_canvas->mask().save(f)) Q_EMIT notice(tr("Cannot write '%1'").arg(f));
    }, true);
    tool(tr("Ink…"), tr("Pen colour or gray level (MNIST models read gray)"), [this] {
        const QColor c = QColorDialog::getColor(m_canvas->ink(), this, tr("Ink colour"));
        if (c.isValid()) m_canvas->setInk(c);
    });
    tool(tr("Overlay…"), tr("Colour of the mask overlay"), [this] {
        const QColor c = QColorDialog::getColor(m_canvas->overlayColor(), this, tr("Mask overlay colour"));
        if (c.isValid()) m_canvas->setOverlay(c, m_canvas->overlayOpacity());
    }, true);
    tools->addStretch(1);
    auto* brush = new QHBoxLayout;
    m_size = new QSlider(Qt::Horizontal, this);
    m_size->setObjectName(QStringLiteral("brushSize"));
    m_size->setRange(1, 128);
    m_size->setValue(m_canvas->brushSize());
    auto* hard = new QSlider(Qt::Horizontal, this);
    hard->setRange(0, 100);
    hard->setValue(int(m_canvas->hardness() * 100));
    auto* opacity = new QSlider(Qt::Horizontal, this);
    opacity->setRange(0, 100);
    opacity->setValue(45);
    auto* opacityLabel = new QLabel(tr("Mask opacity"), this);
    brush->addWidget(new QLabel(tr("Size [ ]"), this));
    brush->addWidget(m_size);
    brush->addWidget(new QLabel(tr("Hardness"), this));
    brush->addWidget(hard);
    brush->addWidget(opacityLabel);
    brush->addWidget(opacity);
    m_maskTools << opacityLabel << opacity;
    col->addLayout(tools);
    col->addLayout(brush);
    col->addWidget(m_canvas, 1);
    connect(m_size, &QSlider::valueChanged, m_canvas, &ImageCanvas::setBrushSize);
    connect(m_canvas, &ImageCanvas::brushSizeChanged, this, [this](int px) {
        const QSignalBlocker block(m_size);
        m_size->setValue(px);  // [ and ] keys; beyond 128 the slider sits at its end
    });
    connect(hard, &QSlider::valueChanged, this, [this](int v) { m_canvas->setHardness(v / 100.0); });
    connect(opacity, &QSlider::valueChanged, this, [this](int v) { m_canvas->setOverlay(m_canvas->overlayColor(), v / 100.0); });
    connect(m_canvas, &ImageCanvas::notice, this, &CanvasPanel::notice);
    connect(m_canvas, &ImageCanvas::undoStateChanged, this, [this, undo, redo] {
        undo->setEnabled(m_canvas->canUndo());
        redo->setEnabled(m_canvas->canRedo());
    });
}

void CanvasPanel::setMaskToolsVisible(bool visible) {
    for (auto* w : m_maskTools) w->setVisible(visible);
    m_canvas->setMaskVisible(visible);
}

void CanvasPanel::setRecipeDropHandler(std::function<void(const QString&)> handler) {
    m_canvas->setDropHandler([handler = std::move(handler)](const QString& path) {
        if (path.endsWith(QStringLiteral(".json"), Qt::CaseInsensitive)) return handler(path), true;
        if (!path.endsWith(QStringLiteral(".png"), Qt::CaseInsensitive)) return false;
        try {
            for (const auto& [k, v] : ds::read_png_text(path.toStdString()))
                if (k == "ds.recipe") return handler(path), true;
        } catch (const std::exception&) {
            return false;  // not a readable PNG: the canvas reports it
        }
        return false;
    });
}

void CanvasPanel::openImage() {
    const QString f = QFileDialog::getOpenFileName(this, tr("Open image"), QString(),
                                                   tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.gif)"));
    if (!f.isEmpty()) m_canvas->loadImage(f);
}

}  // namespace ui
