#pragma once
// Before/after viewer for results: two images drawn into the same rectangle, either side by side
// or overlaid with a draggable vertical divider (left of it: A, right of it: B). Small images
// are enlarged by whole pixels so 28-px digits stay crisp. Drag or click to move the divider;
// the arrow keys move it by 5 %.
#include <QImage>
#include <QString>
#include <QWidget>

namespace ui {

class CompareView : public QWidget {
    Q_OBJECT
public:
    enum class Layout { Slider, SideBySide };

    explicit CompareView(QWidget* parent = nullptr);

    void setImages(const QImage& a, const QString& labelA, const QImage& b, const QString& labelB);
    void setLayout(Layout layout);
    Layout layout() const { return m_layout; }
    void setSplit(double fraction);  // 0..1, where the divider sits (Slider layout)
    double split() const { return m_split; }
    // What the widget shows, at its current size (for tests and "copy view").
    QImage rendered() const;
    QRect imageRect() const;  // where the images are drawn (Slider layout)

Q_SIGNALS:
    void splitChanged(double fraction);

protected:
    void paintEvent(class QPaintEvent* event) override;
    void mousePressEvent(class QMouseEvent* event) override;
    void mouseMoveEvent(class QMouseEvent* event) override;
    void keyPressEvent(class QKeyEvent* event) override;

private:
    QRect fitRect(QSize image, QRect box) const;
    void render(class QPainter& p) const;
    void splitAt(double x);

    QImage m_a, m_b;
    QString m_labelA, m_labelB;
    Layout m_layout = Layout::Slider;
    double m_split = 0.5;
};

}  // namespace ui
