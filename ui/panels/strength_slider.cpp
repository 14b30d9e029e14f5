#include "ui/panels/strength_slider.h"

#include <QLabel>
#include <QSlider>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

namespace ui {

StrengthSlider::StrengthSlider(const QString& objectName, QWidget* parent) : QWidget(parent) {
    auto* col = new QVBoxLayout(this);
    col->setContentsMargins(0, 0, 0, 0);
    col->setSpacing(2);
    m_slider = new QSlider(Qt::Horizontal, this);
    m_slider->setObjectName(objectName);
    m_slider->setToolTip(tr("Strength: the timestep t the run starts from (0 keeps the input, T-1 is pure noise). "
                            "Stays put when the Steps field changes."));
    m_label = new QLabel(this);
    m_label->setObjectName(objectName + QStringLiteral("Label"));
    m_label->setWordWrap(true);
    col->addWidget(m_slider);
    col->addWidget(m_label);
    connect(m_slider, &QSlider::valueChanged, this, [this] {
        updateLabel();
        Q_EMIT changed();
    });
}

void StrengthSlider::setSchedule(int timesteps, std::vector<double> alphaBars, std::vector<std::int64_t> list) {
    if (timesteps <= 0 || list.empty()) {  // a model without a schedule (the denoiser): keep t for the next
        setEnabled(false);
        return;
    }
    setEnabled(true);
    m_alphaBars = std::move(alphaBars);
    m_list = std::move(list);
    {
        const QSignalBlocker block(m_slider);
        m_slider->setRange(0, timesteps - 1);
        m_slider->setPageStep(std::max(1, timesteps / 30));
        if (m_pending >= 0) {  // a t set before the model's range was known
            m_slider->setValue(std::min(m_pending, m_slider->maximum()));
            m_pending = -1;
        } else if (!m_initialised && m_list.size() > 10) {
            // The course's SDEdit example (i_start 10 of 34: t = 207 of 300, 690 of 1000) to begin with.
            m_slider->setValue(int(m_list[10]));
        }
        m_initialised = true;
    }
    updateLabel();
}

int StrengthSlider::t() const { return m_slider->value(); }
void StrengthSlider::setT(int t) {
    if (t > m_slider->maximum()) m_pending = t;
    m_slider->setValue(t);
}

int StrengthSlider::iStart() const {
    if (m_list.empty()) return 0;
    const std::int64_t t = m_slider->value();
    int best = 0;
    for (int i = 1; i < int(m_list.size()); ++i)
        if (std::llabs(m_list[i] - t) < std::llabs(m_list[best] - t)) best = i;
    return best;
}

bool StrengthSlider::setIStart(int i) {
    if (i < 0 || i >= int(m_list.size())) return false;
    m_slider->setValue(int(m_list[i]));
    return true;
}

void StrengthSlider::updateLabel() {
    if (m_list.empty()) return m_label->setText(QString());
    const int i = iStart();
    const auto t = m_list[i];
    const double abar = t < std::int64_t(m_alphaBars.size()) ? m_alphaBars[t] : 0.0;
    m_label->setText(tr("Strength: t = %1 of %2 (ᾱ = %3; i_start %4 of %5 steps)")
                         .arg(t)
                         .arg(m_slider->maximum() + 1)
                         .arg(abar, 0, 'f', 3)
                         .arg(i)
                         .arg(m_list.size()));
}

}  // namespace ui
