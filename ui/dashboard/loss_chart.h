#pragma once
// The live loss chart (the only file that uses Qt Charts, deprecated in Qt 6.10): raw loss per
// step drawn faint, an exponential moving average bold, linear or log y axis. Points are
// buffered and pushed to the chart four times a second.
#include <QChartView>
#include <QList>
#include <QPointF>
#include <QTimer>

class QLineSeries;
class QValueAxis;
class QLogValueAxis;

namespace ui {

class LossChart : public QChartView {
    Q_OBJECT
public:
    explicit LossChart(QWidget* parent = nullptr);
    void addLoss(double step, double loss);
    void clear();
    int rawPoints() const { return int(m_raw.size()); }
    const QList<QPointF>& smoothed() const { return m_smooth; }
    void flushNow() { flush(); }

public Q_SLOTS:
    void setLogScale(bool on);

private:
    void flush();
    void attachY();
    QLineSeries* m_rawSeries;
    QLineSeries* m_smoothSeries;
    QValueAxis* m_x;
    QValueAxis* m_yLinear;
    QLogValueAxis* m_yLog;
    bool m_log = true;
    QList<QPointF> m_raw, m_smooth;
    double m_ema = 0, m_emaWeight = 0;
    double m_min = 1e30, m_max = 0;
    QTimer m_flush;
    bool m_dirty = false;
};

}  // namespace ui
