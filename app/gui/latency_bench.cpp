// diffusion-studio-latency: what a live slider feels like, measured in the real main window
// (offscreen, the bundled MNIST model). SDEdit of a drawn digit at t ~ 200 with 4 samples; each
// round is one key step of the strength slider (a released slider runs at once): the time from
// the key event to the first streamed frame and to the final result, and the gaps of a 5 ms
// heartbeat timer on the GUI thread during the runs (how long the UI was ever blocked). JSON on
// stdout; docs/performance.md has the numbers and the targets (first frame <= 100 ms, result
// <= 400 ms, heartbeat p99 <= 16 ms on an idle 2-core machine).
#include <QApplication>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTest>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/engine/engine.h"
#include "ui/bridge/engine_controller.h"
#include "ui/canvas/image_canvas.h"
#include "ui/main_window.h"

namespace {

QJsonObject stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto at = [&v](double q) { return v[std::min(v.size() - 1, std::size_t(q * double(v.size())))]; };
    return QJsonObject{{QStringLiteral("median_ms"), at(0.5)}, {QStringLiteral("p90_ms"), at(0.9)},
                       {QStringLiteral("max_ms"), v.back()}, {QStringLiteral("n"), int(v.size())}};
}

std::string cpuModel() {
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("DiffusionStudioLatencyBench"));
    QSettings().clear();  // a fresh workspace, removed again at the end
    int rounds = 20, threads = 2;
    std::string dtype = "fp32";
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--dtype") dtype = argv[i + 1];
        if (std::string(argv[i]) == "--rounds") rounds = std::max(3, std::atoi(argv[i + 1]));
        if (std::string(argv[i]) == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
    }
    ds::EngineOptions o;
    o.threads = threads;
    o.dtype = dtype;
    o.assets_dir = std::string(DS_SOURCE_DIR) + "/assets";
    ui::EngineController studio(o), trainer(o);
    ui::MainWindow w(&studio, &trainer);
    w.populateModels(ds::bundled_models(o));
    w.resize(1480, 820);
    w.show();
    QObject::connect(studio.worker(), &ui::EngineWorker::frameReady, &studio, [&studio] { studio.worker()->frameConsumed(); });
    w.setMode(ui::MainWindow::Mode::Sdedit);
    if (!w.canvas()->loadImage(QStringLiteral(DS_SOURCE_DIR "/assets/images/drawn-7.png"))) return 1;
    w.findChild<QSpinBox*>(QStringLiteral("samples"))->setValue(4);
    auto* slider = w.findChild<QSlider*>(QStringLiteral("sdeditStrength"));
    slider->setValue(207);
    QSignalSpy frames(studio.worker(), &ui::EngineWorker::frameReady);
    QSignalSpy done(studio.worker(), &ui::EngineWorker::partAFinished);
    w.run();  // warm-up: loads the model
    if (!done.wait(60000)) return 1;
    std::vector<double> first, final, engine, gaps;
    QElapsedTimer clock;
    clock.start();
    qint64 last = 0;
    QTimer heartbeat;
    heartbeat.setInterval(5);
    QObject::connect(&heartbeat, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        if (last) gaps.push_back((now - last) / 1e6);
        last = now;
    });
    heartbeat.start();
    slider->setFocus();
    for (int i = 0; i < rounds; ++i) {
        frames.clear();
        done.clear();
        QElapsedTimer t;
        t.start();
        QTest::keyClick(slider, i % 2 ? Qt::Key_Right : Qt::Key_Left);  // t 207 <-> 206: a released slider step
        if (!frames.wait(10000)) return 1;
        first.push_back(t.nsecsElapsed() / 1e6);
        if (done.isEmpty() && !done.wait(10000)) return 1;
        final.push_back(t.nsecsElapsed() / 1e6);
        engine.push_back(done.last().at(1).value<ui::PartAOutput>().seconds * 1e3);
        QTest::qWait(30);
    }
    heartbeat.stop();
    const QJsonObject out{
        {QStringLiteral("bench"), QStringLiteral("ui_live_sdedit_latency")},
        {QStringLiteral("what"), QStringLiteral("SDEdit, mnist-class-ddpm, t ~ 207 (i_start 10 of 34), 4 samples, "
                                                "slider key step -> first frame / final result; 5 ms GUI heartbeat gaps")},
        {QStringLiteral("threads"), threads},
        {QStringLiteral("dtype"), QString::fromStdString(dtype)},
        {QStringLiteral("cpu_model"), QString::fromStdString(cpuModel())},
        {QStringLiteral("first_frame"), stats(first)},
        {QStringLiteral("final_result"), stats(final)},
        {QStringLiteral("engine_run"), stats(engine)},  // the job's own time, from its request on the worker
        {QStringLiteral("heartbeat_gap"), [&] {
             QJsonObject h = stats(gaps);
             std::sort(gaps.begin(), gaps.end());
             h[QStringLiteral("p99_ms")] = gaps[std::min(gaps.size() - 1, std::size_t(0.99 * double(gaps.size())))];
             return h;
         }()},
    };
    std::printf("%s\n", QJsonDocument(out).toJson(QJsonDocument::Indented).constData());
    QSettings().clear();
    return 0;
}
