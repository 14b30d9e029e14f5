// diffusion-studio: starts the GUI on the bundled MNIST models.
#include <QApplication>
#include <QMessageBox>

#include "ui/bridge/engine_controller.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Diffusion Studio"));
    QApplication::setOrganizationName(QStringLiteral("DiffusionStudio"));
    ds::EngineOptions options;
    std::vector<ds::ModelInfo> models;
    try {
        ds::Engine probe(options);  // lists bundled models; the worker owns its own engine
        models = probe.bundled_models();
    } catch (const std::exception& e) {
        QMessageBox::critical(nullptr, QStringLiteral("Diffusion Studio"), QString::fromUtf8(e.what()));
        return 1;
    }
    ui::EngineController controller(options);
    ui::MainWindow window(&controller);
    window.populateModels(models);
    window.resize(1100, 560);
    window.show();
    return app.exec();
}
