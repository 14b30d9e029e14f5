// diffusion-studio: starts the GUI on the bundled MNIST models.
// --screenshot FILE saves the window to FILE and quits (after the run when --run is given);
// used to make the screenshots in docs/.
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <QTimer>

#include "ui/bridge/engine_controller.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Diffusion Studio"));
    QApplication::setOrganizationName(QStringLiteral("DiffusionStudio"));
    QCommandLineParser cli;
    cli.addHelpOption();
    QCommandLineOption shot(QStringLiteral("screenshot"), QStringLiteral("Save the window to <file> and quit."),
                            QStringLiteral("file"));
    QCommandLineOption run(QStringLiteral("run"), QStringLiteral("Start a run at launch."));
    cli.addOption(shot);
    cli.addOption(run);
    cli.process(app);

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

    if (cli.isSet(shot)) {
        const QString file = cli.value(shot);
        auto save = [&window, file] {
            window.grab().save(file);
            QApplication::quit();
        };
        if (cli.isSet(run)) {
            QObject::connect(controller.worker(), &ui::EngineWorker::sampleFinished, &window,
                             [save] { QTimer::singleShot(300, save); });
            QObject::connect(controller.worker(), &ui::EngineWorker::failed, &window,
                             [save] { QTimer::singleShot(300, save); });
        } else {
            QTimer::singleShot(500, save);
        }
    }
    if (cli.isSet(run)) QTimer::singleShot(0, &window, &ui::MainWindow::run);
    return app.exec();
}
