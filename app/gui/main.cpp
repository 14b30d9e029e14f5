// diffusion-studio: starts the GUI on the bundled MNIST models.
// --screenshot FILE saves the window to FILE and quits (after the run when --run is given);
// used to make the screenshots in docs/.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QLabel>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QTimer>

#include "core/engine/precision_info.h"
#include "ui/bridge/engine_controller.h"
#include "ui/panels/precision_label.h"
#include "ui/canvas/image_canvas.h"
#include "ui/dashboard/train_dashboard.h"
#include "ui/main_window.h"

namespace {
// Set by SIGTERM, SIGHUP or SIGINT; a timer on the GUI thread turns it into quitSavingWork() (a
// handler may only touch lock-free atomics). A second signal exits at once.
std::atomic<int> g_stop_signal{0};
void on_stop_signal(int signo) {
    if (g_stop_signal.exchange(signo) != 0) std::_Exit(128 + signo);
}
}  // namespace

int main(int argc, char** argv) {
    QCommandLineParser cli;
    cli.setApplicationDescription(QStringLiteral("Diffusion Studio: explore and train diffusion models (the GUI; "
                                                 "dstudio is the command line)."));
    cli.addHelpOption();
    QCommandLineOption shot(QStringLiteral("screenshot"), QStringLiteral("Save the window to <file> and quit."),
                            QStringLiteral("file"));
    QCommandLineOption run(QStringLiteral("run"), QStringLiteral("Start a run at launch."));
    QCommandLineOption threads(QStringLiteral("threads"),
                               QStringLiteral("Intra-op threads per worker (default: the Settings value, else all cores)."),
                               QStringLiteral("n"));
    QCommandLineOption mode(QStringLiteral("mode"),
                            QStringLiteral("Start in mode 0-6 (generate, explore, sdedit, inpaint, anagram, hybrid, denoise)."),
                            QStringLiteral("index"));
    QCommandLineOption tab(QStringLiteral("tab"), QStringLiteral("Start on tab 0 (studio) or 1 (train)."),
                           QStringLiteral("index"));
    QCommandLineOption image(QStringLiteral("image"), QStringLiteral("Open <file> on the canvas."), QStringLiteral("file"));
    QCommandLineOption mask(QStringLiteral("mask"), QStringLiteral("Use <file> as the inpainting mask."), QStringLiteral("file"));
    QCommandLineOption runFolder(QStringLiteral("run-folder"), QStringLiteral("Show training run <dir> in the dashboard."),
                                 QStringLiteral("dir"));
    QCommandLineOption recipe(QStringLiteral("recipe"), QStringLiteral("Restore the settings of a saved result (<file>.png or .json)."),
                              QStringLiteral("file"));
    cli.addOption(recipe);
    QCommandLineOption weights(QStringLiteral("weights"), QStringLiteral("Open a DeepFloyd IF folder <dir>."), QStringLiteral("dir"));
    cli.addOption(weights);
    cli.addOption(image);
    cli.addOption(mask);
    cli.addOption(runFolder);
    cli.addOption(shot);
    cli.addOption(run);
    cli.addOption(threads);
    cli.addOption(mode);
    cli.addOption(tab);
    QCommandLineOption view(QStringLiteral("view"),
                            QStringLiteral("Result view: 0 figure, 1 compare slider, 2 side by side."), QStringLiteral("n"));
    cli.addOption(view);
    // --help needs no display: it is answered before QApplication would load a platform plugin.
    for (int i = 1; i < argc; ++i) {
        const QString a = QString::fromLocal8Bit(argv[i]);
        if (a == QStringLiteral("-h") || a == QStringLiteral("--help") || a == QStringLiteral("--help-all") ||
            a == QStringLiteral("-?")) {
            QCoreApplication core(argc, argv);
            QCoreApplication::setApplicationName(QStringLiteral("diffusion-studio"));
            cli.process(core);  // prints the help and exits
            return 0;
        }
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Diffusion Studio"));
    QApplication::setOrganizationName(QStringLiteral("DiffusionStudio"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/diffusion-studio.svg")));
    cli.process(app);

    ds::EngineOptions options;
    QSettings settings;
    options.dtype = settings.value(QStringLiteral("dtype"), QStringLiteral("auto")).toString().toStdString();
    if (const auto ok = ds::Engine::dtype_choices(); std::find(ok.begin(), ok.end(), options.dtype) == ok.end()) {
        std::fprintf(stderr, "diffusion-studio: the saved dtype '%s' is not one Diffusion Studio knows; using fp32\n",
                     options.dtype.c_str());
        options.dtype = "fp32";
    }
    options.device = settings.value(QStringLiteral("device"), QStringLiteral("cpu")).toString().toStdString();
    options.threads = cli.isSet(threads) ? cli.value(threads).toInt() : settings.value(QStringLiteral("threads"), 0).toInt();
    std::vector<ds::ModelInfo> models;
    try {
        try {
            models = ds::bundled_models(options);  // checks the options; the workers own the engines
        } catch (const ds::InvalidRequest& e) {
            // A saved dtype/device this build or machine cannot run (fp16 without a GPU, a GPU
            // that is gone): say so and start on the CPU in fp32 rather than not at all.
            if (options.dtype == "fp32" && options.device == "cpu") throw;
            std::fprintf(stderr, "diffusion-studio: %s; using fp32 on the CPU\n", e.what());
            options.dtype = "fp32";
            options.device = "cpu";
            models = ds::bundled_models(options);
        }
    } catch (const std::exception& e) {
        QMessageBox::critical(nullptr, QStringLiteral("Diffusion Studio"), QString::fromUtf8(e.what()));
        return 1;
    }
    // Two workers: the studio's jobs and training run side by side (docs/architecture.md).
    ui::EngineController controller(options);
    ui::EngineController trainer(options);
    ui::MainWindow window(&controller, &trainer);
    window.populateModels(models);
    window.resize(1480, 820);
    {
        // The precision each model family runs in, at the right of the status bar (with --dtype
        // auto: measured once per machine, about a second, then cached).
        auto* precision = new ui::PrecisionLabel(&window);
        precision->setPrecision(QString::fromStdString(options.dtype), ds::describe_precision(options));
        window.statusBar()->addPermanentWidget(precision);
    }
    if (cli.isSet(mode)) window.setMode(ui::MainWindow::Mode(std::clamp(cli.value(mode).toInt(), 0, 6)));
    if (cli.isSet(tab)) window.showTab(cli.value(tab).toInt());
    if (cli.isSet(weights)) window.openModelFolder(cli.value(weights));
    if (cli.isSet(recipe)) window.loadRecipeFile(cli.value(recipe));
    if (cli.isSet(image)) window.canvas()->loadImage(cli.value(image));
    if (cli.isSet(mask)) window.canvas()->setMask(QImage(cli.value(mask)));
    if (cli.isSet(runFolder)) window.dashboard()->setOutputFolder(cli.value(runFolder));
    if (cli.isSet(view)) window.setResultView(cli.value(view).toInt());
    window.show();

    if (cli.isSet(shot)) {
        const QString file = cli.value(shot);
        auto save = [&window, file] {
            window.grab().save(file);
            QApplication::quit();
        };
        if (cli.isSet(run)) {
            QObject::connect(controller.worker(), &ui::EngineWorker::partAFinished, &window,
                             [save] { QTimer::singleShot(300, save); });
            QObject::connect(controller.worker(), &ui::EngineWorker::failed, &window,
                             [save] { QTimer::singleShot(300, save); });
        } else {
            QTimer::singleShot(500, save);
        }
    }
    if (cli.isSet(run)) QTimer::singleShot(0, &window, &ui::MainWindow::run);

    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGTERM, SIGHUP, SIGINT}) sigaction(s, &sa, nullptr);
    QTimer signal_poll;
    QObject::connect(&signal_poll, &QTimer::timeout, &window, [&window, &signal_poll] {
        if (g_stop_signal.load() == 0) return;
        signal_poll.stop();
        std::fprintf(stderr, "diffusion-studio: signal %d: saving the workspace and any training checkpoint, then quitting\n",
                     g_stop_signal.load());
        window.quitSavingWork();
    });
    signal_poll.start(100);
    const int rc = app.exec();
    return g_stop_signal.load() ? 128 + g_stop_signal.load() : rc;
}
