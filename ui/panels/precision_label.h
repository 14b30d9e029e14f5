#pragma once
// The status bar's precision label: what --dtype means on this machine per model family
// ("auto: MNIST bf16, IF bf16"), with each family's reason (the measurement) as its tooltip.
#include <vector>

#include <QLabel>

#include "core/engine/precision_info.h"

namespace ui {

class PrecisionLabel : public QLabel {
    Q_OBJECT
public:
    explicit PrecisionLabel(QWidget* parent = nullptr);
    // `dtype`: the option as given (auto, fp32, ...); `families`: what each family runs in.
    void setPrecision(const QString& dtype, const std::vector<ds::FamilyPrecision>& families);
};

}  // namespace ui
