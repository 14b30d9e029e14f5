#pragma once
// The Studio's mode panels, one per ui::Mode, in Mode's order.
#include <QList>

class QWidget;

namespace ui {

class ModePanel;

QList<ModePanel*> makeModePanels(QWidget* parent);

}  // namespace ui
