#include "ui/dashboard/loss_chart.h"

#include <QChart>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QValueAxis>
#include <cmath>

namespace ui {

namespace {
constexpr double kDecay = 0.98;        // bold curve: debiased EMA, memory of ~50 steps (`dstudio plot`'s window)
constexpr int kFlushMs = 250;         // chart refresh period while training
constexpr int kMaxPoints = 4000;      // beyond this the raw curve is decimated for drawing
}

LossChart::LossChart(QWidget* parent) : QChartView(parent) {
    auto* chart = new QChart;
    chart->setTitle(tr("Training loss"));
    chart->legend()->setAlignment(Qt::AlignBottom);
    m_rawSeries = new QLineSeries(chart);
    m_rawSeries->setName(tr("loss (per step)"));
    QPen faint(QColor(66, 133, 244, 70));
    faint.setWidthF(1.0);
    m_rawSeries->setPen(faint);
    m_smoothSeries = new QLineSeries(chart);
    m_smoothSeries->setName(tr("smoothed"));
    QPen bold(QColor(25, 103, 210));
    bold.setWidthF(2.2);
    m_smoothSeries->setPen(bold);
    chart->addSeries(m_rawSeries);
    chart->addSeries(m_smoothSeries);
    m_x = new QValueAxis(chart);
    m_x->setTitleText(tr("step"));
    m_x->setLabelFormat(QStringLiteral("%d"));
    m_x->setRange(0, 100);  // an empty chart: 0, 25, ... 100, not "0 0 0 0 1"
    m_x->setTickCount(5);
    m_yLinear = new QValueAxis(chart);
    m_yLog = new QLogValueAxis(chart);
    m_yLog->setBase(10);
    m_yLog->setLabelFormat(QStringLiteral("%.3g"));
    m_yLog->setMinorTickCount(8);  // 2..9 between the labelled decades
    chart->addAxis(m_x, Qt::AlignBottom);
    m_rawSeries->attachAxis(m_x);
    m_smoothSeries->attachAxis(m_x);
    setChart(chart);
    setRenderHint(QPainter::Antialiasing);
    attachY();
    m_flush.setInterval(kFlushMs);
    connect(&m_flush, &QTimer::timeout, this, &LossChart::flush);
    m_flush.start();
}

void LossChart::addLoss(double step, double loss) {
    if (!std::isfinite(loss) || loss <= 0) return;
    if (!m_raw.isEmpty() && step <= m_raw.last().x()) {
        // A resumed run redoes the steps after its checkpoint: those points are replaced.
        QList<QPointF> kept;
        for (const auto& p : m_raw)
            if (p.x() < step) kept.append(p);
        clear();
        for (const auto& p : kept) addLoss(p.x(), p.y());
    }
    m_raw.append({step, loss});
    // Debiased exponential moving average: the first points are not pulled towards zero, and a
    // large early loss fades out smoothly instead of leaving a trailing window all at once.
    m_ema = kDecay * m_ema + (1 - kDecay) * loss;
    m_emaWeight = kDecay * m_emaWeight + (1 - kDecay);
    m_smooth.append({step, m_ema / m_emaWeight});
    m_min = std::min(m_min, loss);
    m_max = std::max(m_max, loss);
    m_dirty = true;
}

void LossChart::clear() {
    m_raw.clear();
    m_smooth.clear();
    m_ema = 0;
    m_emaWeight = 0;
    m_min = 1e30;
    m_max = 0;
    m_dirty = true;
    flush();
}

void LossChart::attachY() {
    QChart* c = chart();
    for (auto* axis : c->axes(Qt::Vertical)) {
        m_rawSeries->detachAxis(axis);
        m_smoothSeries->detachAxis(axis);
        c->removeAxis(axis);
    }
    QAbstractAxis* y = m_log ? static_cast<QAbstractAxis*>(m_yLog) : m_yLinear;
    c->addAxis(y, Qt::AlignLeft);
    m_rawSeries->attachAxis(y);
    m_smoothSeries->attachAxis(y);
}

void LossChart::setLogScale(bool on) {
    if (on == m_log) return;
    m_log = on;
    attachY();
    m_dirty = true;
    flush();
}

void LossChart::flush() {
    if (!m_dirty) return;
    m_dirty = false;
    if (m_raw.size() <= kMaxPoints) {
        m_rawSeries->replace(m_raw);
        m_smoothSeries->replace(m_smooth);
    } else {  // decimate for drawing; the data stays complete
        const int every = int(m_raw.size() / kMaxPoints) + 1;
        QList<QPointF> r, s;
        for (int i = 0; i < m_raw.size(); i += every) {
            r.append(m_raw[i]);
            s.append(m_smooth[i]);
        }
        m_rawSeries->replace(r);
        m_smoothSeries->replace(s);
    }
    if (m_raw.isEmpty()) {
        m_x->setRange(0, 100);
        return;
    }
    m_x->setRange(0, std::max(1.0, m_raw.last().x()));
    m_x->applyNiceNumbers();  // round ticks (0, 2000, 4000, ...)
    const double lo = m_min * 0.9, hi = m_max * 1.1;
    if (m_log) {
        // Whole decades, so at least two ticks are labelled (a loss between 0.03 and 0.2 would
        // otherwise show no label at all); minor ticks mark 2..9 within each decade.
        m_yLog->setRange(std::pow(10.0, std::floor(std::log10(lo))), std::pow(10.0, std::ceil(std::log10(hi))));
    } else {
        m_yLinear->setRange(0, hi);
    }
}

}  // namespace ui
