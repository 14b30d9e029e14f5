#pragma once
// File -> Settings: worker threads, DeepFloyd IF dtype and device (with a warning where this CPU
// runs a dtype badly), preview interval and output folder, kept in QSettings.
class QWidget;

namespace ui {

// Shows the dialog; true when the user saved.
bool editApplicationSettings(QWidget* parent);

}  // namespace ui
