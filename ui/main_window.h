#pragma once
// The main window. This first version samples from the bundled MNIST models with live x_t / x0
// frames; the canvas, mask painter and training dashboard build on the same controller.
#include <QMainWindow>

#include "core/engine/requests.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace ui {

class EngineController;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(EngineController* controller, QWidget* parent = nullptr);

    void populateModels(const std::vector<ds::ModelInfo>& models);

public Q_SLOTS:
    void run();
    void stop();

private:
    void showFrame(const QImage& xt, const QImage& x0, int step, int total);
    void setBusy(bool busy);
    void updateClassPicker();
    QPixmap scaled(const QImage& image) const;

    EngineController* m_controller;
    std::vector<ds::ModelInfo> m_models;
    QComboBox* m_model = nullptr;
    QComboBox* m_digit = nullptr;
    QDoubleSpinBox* m_guidance = nullptr;
    QSpinBox* m_steps = nullptr;
    QSpinBox* m_seed = nullptr;
    QPushButton* m_runButton = nullptr;
    QPushButton* m_stopButton = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_xt = nullptr;
    QLabel* m_x0 = nullptr;
    QLabel* m_status = nullptr;
};

}  // namespace ui
