#include "ui/panels/precision_label.h"

#include <QStringList>

namespace ui {

PrecisionLabel::PrecisionLabel(QWidget* parent) : QLabel(parent) { setObjectName(QStringLiteral("precision")); }

void PrecisionLabel::setPrecision(const QString& dtype, const std::vector<ds::FamilyPrecision>& families) {
    QStringList parts, reasons;
    for (const auto& p : families) {
        const QString family = p.family == "MNIST UNet"      ? QStringLiteral("MNIST")
                               : p.family == "DeepFloyd IF" ? QStringLiteral("IF")
                                                            : QString::fromStdString(p.family);
        parts << QStringLiteral("%1 %2").arg(family, QString::fromStdString(p.dtype));
        reasons << QString::fromStdString(p.family + ": " + p.reason);
    }
    setText(QStringLiteral("%1: %2").arg(dtype, parts.join(QStringLiteral(", "))));
    setToolTip(reasons.join(QLatin1Char('\n')));
}

}  // namespace ui
