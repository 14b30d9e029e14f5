// QtTest suite of the GUI, run offscreen (QT_QPA_PLATFORM=offscreen): worker signals for
// run / cancel / fail, latest-wins, mask painting by synthesised mouse events, undo/redo,
// settings and recipe round trips, and a GUI-thread responsiveness probe during a run.
#include <QCheckBox>
#include <QApplication>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QLineEdit>
#include <QStandardPaths>
#include <QListWidget>
#include <QUrl>
#include <QMimeData>
#include <QSlider>
#include <QSpinBox>
#include <QDoubleSpinBox>
#include <QDir>
#include <QFile>
#include <cmath>

#include <QComboBox>
#include <QJsonObject>
#include <QJsonDocument>
#include <QJsonArray>
#include <QMouseEvent>
#include <QDialog>
#include <QLabel>
#include <QProgressBar>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <algorithm>

#include "core/engine/engine.h"
#include "ui/bridge/engine_controller.h"
#include "ui/bridge/image_convert.h"
#include "ui/canvas/compare_view.h"
#include "ui/canvas/image_canvas.h"
#include "ui/dashboard/loss_chart.h"
#include "ui/dashboard/train_dashboard.h"
#include "ui/main_window.h"
#include "tests/support/tiny_if.h"

using namespace ui;

namespace {

ds::EngineOptions engineOptions() {
    ds::EngineOptions o;
    o.threads = 1;
    o.assets_dir = std::string(DS_SOURCE_DIR) + "/assets";
    return o;
}

ds::IterateRequest smallSample(int seed = 1) {
    ds::IterateRequest r;
    r.sampler.model = "mnist-class-ddpm";
    r.sampler.prompt = "3";
    r.sampler.seed = std::uint64_t(seed);
    r.sampler.count = 1;
    return r;
}

void send(QWidget* w, QEvent::Type type, QPointF pos, Qt::MouseButton button, Qt::MouseButtons buttons) {
    QMouseEvent e(type, pos, w->mapToGlobal(pos), button, buttons, Qt::NoModifier);
    QApplication::sendEvent(w, &e);
}

// Drags the left button along a horizontal line in document coordinates.
void stroke(ImageCanvas* c, QPointF fromDoc, QPointF toDoc) {
    send(c, QEvent::MouseButtonPress, c->toWidget(fromDoc), Qt::LeftButton, Qt::LeftButton);
    for (int i = 1; i <= 10; ++i)
        send(c, QEvent::MouseMove, c->toWidget(fromDoc + (toDoc - fromDoc) * (i / 10.0)), Qt::NoButton, Qt::LeftButton);
    send(c, QEvent::MouseButtonRelease, c->toWidget(toDoc), Qt::LeftButton, Qt::NoButton);
}

int maskAt(const ImageCanvas* c, int x, int y) { return qGray(c->mask().pixel(x, y)); }

}  // namespace

class UiTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void workerRunsAPartAJobAndStreamsFrames() {
        EngineController c(engineOptions());
        QSignalSpy done(c.worker(), &EngineWorker::partAFinished);
        QSignalSpy frames(c.worker(), &EngineWorker::frameReady);
        QSignalSpy busy(&c, &EngineController::busyChanged);
        connect(c.worker(), &EngineWorker::frameReady, &c, [&c] { c.worker()->frameConsumed(); });
        const quint64 id = c.runPartA(smallSample());
        QVERIFY(c.busy());
        QVERIFY(done.wait(60000));
        QCOMPARE(done.first().at(0).value<quint64>(), id);
        const auto out = done.first().at(1).value<PartAOutput>();
        QCOMPARE(out.images.size(), 1);
        QCOMPARE(out.trajectoryXt.size(), 34);  // every step kept for the scrubber
        QVERIFY(frames.size() >= 1);
        QVERIFY(out.recipe.contains(QStringLiteral("\"technique\": \"sample\"")));
        QTRY_VERIFY(!c.busy());
        QCOMPARE(busy.size(), 2);  // true, then false
    }

    void cancelAndFailureBecomeSignals() {
        EngineController c(engineOptions());
        QSignalSpy cancelled(c.worker(), &EngineWorker::cancelled);
        QSignalSpy failed(c.worker(), &EngineWorker::failed);
        connect(c.worker(), &EngineWorker::progress, &c, [&c](quint64, const ds::ProgressEvent& e) {
            if (e.step == 3) c.cancel();  // set from the GUI thread while the worker runs
        });
        QSignalSpy progress(c.worker(), &EngineWorker::progress);
        c.runPartA(smallSample());
        QVERIFY(cancelled.wait(60000));
        QVERIFY(progress.size() <= 5);  // stopped within a step or two of the request

        auto bad = smallSample();
        bad.sampler.model = "no-such-model";
        c.runPartA(bad);
        QVERIFY(failed.wait(60000));
        QVERIFY(failed.first().at(1).toString().contains(QStringLiteral("unknown model 'no-such-model'")));
        QTRY_VERIFY(!c.busy());
    }

    void latestRequestWins() {
        EngineController c(engineOptions());
        QSignalSpy done(c.worker(), &EngineWorker::partAFinished);
        QSignalSpy cancelled(c.worker(), &EngineWorker::cancelled);
        quint64 last = 0;
        for (int i = 0; i < 4; ++i) last = c.runPartA(smallSample(i), /*supersede=*/true);
        QVERIFY(done.wait(60000));
        QTRY_VERIFY(!c.busy());
        QCOMPARE(done.size(), 1);
        QCOMPARE(done.first().at(0).value<quint64>(), last);
        QCOMPARE(cancelled.size(), 3);
    }

    void maskPaintingUndoRedoInvert() {
        ImageCanvas canvas;
        canvas.resize(400, 400);
        canvas.show();
        canvas.newDocument(QSize(100, 100), Qt::black, Qt::white);
        QVERIFY(canvas.maskIsEmpty());
        canvas.setTool(ImageCanvas::Tool::MaskBrush);
        canvas.setBrushSize(10);
        canvas.setHardness(1.0);
        QSignalSpy edited(&canvas, &ImageCanvas::edited);
        stroke(&canvas, QPointF(20, 50), QPointF(80, 50));
        QCOMPARE(edited.size(), 1);
        QVERIFY(!canvas.maskIsEmpty());
        QVERIFY(maskAt(&canvas, 50, 50) > 200);  // on the stroke
        QVERIFY(maskAt(&canvas, 20, 52) > 200);
        QCOMPARE(maskAt(&canvas, 50, 20), 0);     // far from it
        QCOMPARE(maskAt(&canvas, 95, 50), 0);
        // The drawing itself was not touched by the mask brush.
        QCOMPARE(qGray(canvas.image().pixel(50, 50)), 0);

        canvas.undo();
        QVERIFY(canvas.maskIsEmpty());
        QVERIFY(canvas.canRedo());
        canvas.redo();
        QVERIFY(maskAt(&canvas, 50, 50) > 200);

        // Shift+V inverts.
        QTest::keyClick(&canvas, Qt::Key_V, Qt::ShiftModifier);
        QCOMPARE(maskAt(&canvas, 50, 20), 255);
        QVERIFY(maskAt(&canvas, 50, 50) < 50);
        // [ and ] change the brush size.
        const int before = canvas.brushSize();
        QTest::keyClick(&canvas, Qt::Key_BracketRight);
        QVERIFY(canvas.brushSize() > before);

        // The pen draws on the image, not the mask; the eraser paints paper.
        canvas.clearMask();
        canvas.setTool(ImageCanvas::Tool::Pen);
        stroke(&canvas, QPointF(50, 10), QPointF(50, 90));
        QVERIFY(qGray(canvas.image().pixel(50, 50)) > 200);
        QVERIFY(canvas.maskIsEmpty());
        canvas.setTool(ImageCanvas::Tool::Eraser);
        stroke(&canvas, QPointF(40, 50), QPointF(60, 50));
        QCOMPARE(qGray(canvas.image().pixel(50, 50)), 0);

        // A mask of another size is resized to the document, with a notice.
        QSignalSpy notice(&canvas, &ImageCanvas::notice);
        QImage small(10, 10, QImage::Format_Grayscale8);
        small.fill(255);
        canvas.setMask(small);
        QCOMPARE(canvas.mask().size(), QSize(100, 100));
        QCOMPARE(notice.size(), 1);
    }

    void nonImageDropsAndUnreadableFilesAreReported() {
        ImageCanvas canvas;
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("notes.txt"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("not an image");
        f.close();
        QSignalSpy notice(&canvas, &ImageCanvas::notice);
        const QImage before = canvas.image();
        QString error;
        QVERIFY(!canvas.loadImage(path, &error));
        QVERIFY(error.contains(QStringLiteral("notes.txt")));
        QCOMPARE(notice.size(), 1);
        QCOMPARE(canvas.image(), before);  // nothing lost
        // A huge image is downscaled with a notice.
        QImage huge(5000, 3000, QImage::Format_RGB32);
        huge.fill(Qt::gray);
        const QString big = dir.filePath(QStringLiteral("huge.png"));
        QVERIFY(huge.save(big));
        QVERIFY(canvas.loadImage(big));
        QVERIFY(canvas.image().width() <= ImageCanvas::kMaxSide);
        QCOMPARE(notice.size(), 2);
    }

    void recipeRoundTripRestoresSettings() {
        EngineController studio(engineOptions()), trainer(engineOptions());
        MainWindow w(&studio, &trainer);
        ds::Engine probe(engineOptions());
        w.populateModels(probe.bundled_models());
        w.setMode(MainWindow::Mode::Sdedit);
        // A recipe as the engine writes it, stored in a PNG text chunk and read back.
        const std::string recipe = R"({"format": "ds.recipe/1", "technique": "hybrid", "model": "mnist-class-ddpm",
            "seed": 77, "guidance": 3.5, "count": 2, "prompt_far": "0", "prompt_near": "8", "kernel": 21, "sigma": 1.5})";
        QTemporaryDir dir;
        const std::string png = dir.filePath(QStringLiteral("r.png")).toStdString();
        ds::write_png(ds::Image(4, 4, 1), png, {{"ds.recipe", recipe}});
        std::string back;
        for (const auto& [k, v] : ds::read_png_text(png))
            if (k == "ds.recipe") back = v;
        QVERIFY(w.applyRecipe(QString::fromStdString(back)));
        QCOMPARE(int(w.mode()), int(MainWindow::Mode::Hybrid));
        QVERIFY(!w.applyRecipe(QStringLiteral("{\"format\": \"something else\"}")));
        // A crafted recipe (an output path in its argv, a wrong type) is refused with the reason,
        // and nothing of it is applied.
        QString why;
        QVERIFY(!w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "sdedit", "seed": 5,
            "command": "sdedit", "argv": ["--gif", "/tmp/victim.txt"]})"), &why));
        QVERIFY2(why.contains(QStringLiteral("output files")), qPrintable(why));
        QCOMPARE(int(w.mode()), int(MainWindow::Mode::Hybrid));
        QVERIFY(!w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "sdedit", "seed": "x"})"), &why));
        QVERIFY2(why.contains(QStringLiteral("seed")), qPrintable(why));
        // Running it reproduces the recipe's settings.
        QSignalSpy done(studio.worker(), &EngineWorker::partAFinished);
        connect(studio.worker(), &EngineWorker::frameReady, &studio, [&studio] { studio.worker()->frameConsumed(); });
        w.run();
        QVERIFY(done.wait(60000));
        const QString got = done.first().at(1).value<PartAOutput>().recipe;
        QVERIFY(got.contains(QStringLiteral("\"seed\": 77")));
        QVERIFY(got.contains(QStringLiteral("\"prompt_near\": \"8\"")));
        QVERIFY(got.contains(QStringLiteral("\"kernel\": 21")));
    }

    void settingsRoundTripThroughTheWorkspace() {
        {
            EngineController studio(engineOptions()), trainer(engineOptions());
            MainWindow w(&studio, &trainer);
            ds::Engine probe(engineOptions());
            w.populateModels(probe.bundled_models());
            w.setMode(MainWindow::Mode::Anagram);
            QVERIFY(w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "anagram", "seed": 4242,
                "prompts": ["6", "9"], "views": ["identity", "rot180"]})")));
            w.canvas()->newDocument(QSize(50, 50), Qt::black, Qt::white);
            w.canvas()->setTool(ImageCanvas::Tool::Pen);
            QSignalSpy done(studio.worker(), &EngineWorker::partAFinished);
            connect(studio.worker(), &EngineWorker::frameReady, &studio, [&studio] { studio.worker()->frameConsumed(); });
            w.run();  // one result in the history strip
            QVERIFY(done.wait(60000));
            QTRY_VERIFY(!studio.busy());
            w.close();  // saves the workspace
        }
        EngineController studio(engineOptions()), trainer(engineOptions());
        MainWindow w(&studio, &trainer);
        ds::Engine probe(engineOptions());
        w.populateModels(probe.bundled_models());
        QCOMPARE(int(w.mode()), int(MainWindow::Mode::Anagram));
        QCOMPARE(w.canvas()->image().size(), QSize(50, 50));
        QVERIFY(w.currentRecipe().isEmpty());  // nothing selected yet, but the history came back:
        auto* history = w.findChild<QListWidget*>();
        QVERIFY(history);
        QCOMPARE(history->count(), 1);
        QVERIFY(history->item(0)->data(Qt::UserRole + 1).toString().contains(QStringLiteral("\"technique\": \"anagram\"")));
        QVERIFY(QSettings().value(QStringLiteral("workspace/seed")).toInt() == 4242);
    }

    void firstFrameLatencyOfALiveSdedit() {
        // What a live slider feels like: request -> first streamed frame, model already loaded.
        EngineController c(engineOptions());
        QSignalSpy frames(c.worker(), &EngineWorker::frameReady);
        QSignalSpy done(c.worker(), &EngineWorker::partAFinished);
        connect(c.worker(), &EngineWorker::frameReady, &c, [&c] { c.worker()->frameConsumed(); });
        ds::SdeditRequest r;
        r.sampler.model = "mnist-class-ddpm";
        r.sampler.prompt = "7";
        r.sampler.count = 1;
        r.input.image = ds::Image(28, 28, 1);
        for (int y = 6; y < 22; ++y) *r.input.image.at(14, y) = 255;
        r.i_starts = {10};
        c.runPartA(r);  // warm-up: loads the model
        QVERIFY(done.wait(60000));
        QVector<double> latencies;
        for (int i = 0; i < 5; ++i) {
            frames.clear();
            QElapsedTimer t;
            t.start();
            r.i_starts = {10 + i};
            c.runPartA(r);
            QVERIFY(frames.wait(10000));
            latencies.append(t.nsecsElapsed() / 1e6);
            QVERIFY(done.wait(10000));
        }
        std::sort(latencies.begin(), latencies.end());
        qInfo("request -> first frame: median %.1f ms, worst %.1f ms", latencies[2], latencies.last());
        QVERIFY(latencies.last() < 5000.0);
    }

    void compareViewSliderAndSideBySide() {
        CompareView v;
        v.resize(220, 240);
        QImage black(10, 10, QImage::Format_RGB32), white(10, 10, QImage::Format_RGB32);
        black.fill(Qt::black);
        white.fill(Qt::white);
        v.setImages(black, QStringLiteral("input"), white, QStringLiteral("result 1"));
        const QRect r = v.imageRect();
        QVERIFY(r.width() >= 100);
        QCOMPARE(r.width() % 10, 0);  // whole-pixel enlargement
        const QPoint leftQ(r.x() + r.width() / 4, r.center().y()), rightQ(r.x() + 3 * r.width() / 4, r.center().y());
        v.setSplit(0.5);
        QImage img = v.rendered();
        QCOMPARE(qGray(img.pixel(leftQ)), 0);
        QCOMPARE(qGray(img.pixel(rightQ)), 255);
        // Dragging the divider to the left edge shows B everywhere.
        QSignalSpy moved(&v, &CompareView::splitChanged);
        send(&v, QEvent::MouseButtonPress, QPointF(r.x() + 1, r.center().y()), Qt::LeftButton, Qt::LeftButton);
        send(&v, QEvent::MouseMove, QPointF(r.x() - 30, r.center().y()), Qt::NoButton, Qt::LeftButton);
        QVERIFY(moved.count() >= 1);
        QCOMPARE(v.split(), 0.0);
        QCOMPARE(qGray(v.rendered().pixel(leftQ)), 255);
        v.setLayout(CompareView::Layout::SideBySide);
        img = v.rendered();
        QCOMPARE(qGray(img.pixel(v.width() / 4, v.height() / 2 + 9)), 0);
        QCOMPARE(qGray(img.pixel(3 * v.width() / 4, v.height() / 2 + 9)), 255);
    }

    void anagramStreamsViewsComparesAndAutosaves() {
        EngineController studio(engineOptions()), trainer(engineOptions());
        MainWindow w(&studio, &trainer);
        ds::Engine probe(engineOptions());
        w.populateModels(probe.bundled_models());
        QVERIFY(w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "anagram", "seed": 5,
            "count": 1, "prompts": ["6", "9"], "views": ["identity", "rot180"]})")));
        QSignalSpy views(studio.worker(), &EngineWorker::frameViews);
        QSignalSpy done(studio.worker(), &EngineWorker::partAFinished);
        connect(studio.worker(), &EngineWorker::frameReady, &studio, [&studio] { studio.worker()->frameConsumed(); });
        w.autosave();
        QVERIFY(!w.autosave());  // nothing changed since the last write
        w.run();
        QVERIFY(done.wait(60000));
        QTRY_VERIFY(!studio.busy());
        QVERIFY(views.count() >= 1);
        const auto names = views.last().at(1).toStringList();
        QCOMPARE(names, QStringList({QStringLiteral("view identity"), QStringLiteral("view rot180")}));
        const auto imgs = views.last().at(2).value<QList<QImage>>();
        QCOMPARE(imgs.size(), 2);
        QCOMPARE(imgs[1], imgs[0].mirrored(true, true));  // rot180 of the x0 estimate
        // Compare: the result against its rotated reading, by default.
        QVERIFY(w.compareChoices().contains(QStringLiteral("result 1")));
        QVERIFY(w.compareChoices().contains(QStringLiteral("view rot180")));
        w.setResultView(1);
        w.compareView()->resize(300, 300);
        w.compareView()->setSplit(1.0);
        const QImage allA = w.compareView()->rendered();
        w.compareView()->setSplit(0.0);
        QVERIFY(allA != w.compareView()->rendered());
        QVERIFY(!w.setCompare(QStringLiteral("input"), QStringLiteral("result 1")));  // no input here
        // The new result marks the workspace dirty; autosave writes it once.
        QVERIFY(w.autosave());
        QVERIFY(!w.autosave());
        QVERIFY(QFileInfo::exists(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) +
                                  QStringLiteral("/workspace/history/000.png")));
    }

    void ifFolderShowsTextPromptsAndNegativePrompt() {
        EngineController studio(engineOptions()), trainer(engineOptions());
        MainWindow w(&studio, &trainer);
        ds::Engine probe(engineOptions());
        w.populateModels(probe.bundled_models());
        auto* negative = w.findChild<QLineEdit*>(QStringLiteral("negativePrompt"));
        QVERIFY(negative);
        QVERIFY(negative->isHidden());  // MNIST: digits, no negative prompt
        // A folder that fails: a message box (closed here), the previous model stays.
        QTimer::singleShot(300, [] {
            if (auto* box = QApplication::activeModalWidget()) box->close();
        });
        QVERIFY(!w.openModelFolder(QStringLiteral("/nonexistent/if-folder")));
        QVERIFY(negative->isHidden());
        QVERIFY(w.openModelFolder(QString::fromStdString(ds::testing::make_tiny_if_folder())));
        QVERIFY(!negative->isHidden());
        w.setMode(MainWindow::Mode::Generate);
        QVERIFY(w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "iterate", "seed": 3,
            "count": 1, "prompt": "a rocket ship", "negative_prompt": "blurry"})")));
        QCOMPARE(negative->text(), QStringLiteral("blurry"));
        QSignalSpy done(studio.worker(), &EngineWorker::partAFinished);
        QSignalSpy failed(studio.worker(), &EngineWorker::failed);
        connect(studio.worker(), &EngineWorker::frameReady, &studio, [&studio] { studio.worker()->frameConsumed(); });
        w.run();
        QVERIFY(done.wait(120000));
        QCOMPARE(failed.count(), 0);
        const QString recipe = done.first().at(1).value<PartAOutput>().recipe;
        QVERIFY(recipe.contains(QStringLiteral("\"negative_prompt\": \"blurry\"")));
        QVERIFY(recipe.contains(QStringLiteral("\"prompt\": \"a rocket ship\"")));

        // Generate with a stage II folder: stage I, then stage II at its sample size (both tiny
        // fixtures use 32 px; the real ones 64 -> 256).
        auto* upscaler = w.findChild<QLineEdit*>(QStringLiteral("upscalerFolder"));
        QVERIFY(upscaler);
        upscaler->setText(QString::fromStdString(ds::testing::make_tiny_if_stage2_folder()));
        auto* upscaleSteps = w.findChild<QSpinBox*>(QStringLiteral("upscaleSteps"));
        QVERIFY(upscaleSteps);
        QCOMPARE(upscaleSteps->value(), 50);  // IFSuperResolutionPipeline's default
        upscaleSteps->setValue(3);
        // Loading is shown in the progress bar (stage I is still loaded from the run above).
        auto* bar = w.findChild<QProgressBar*>(QStringLiteral("progress"));
        QVERIFY(bar);
        QStringList loading;
        connect(studio.worker(), &EngineWorker::progress, &studio, [&](quint64, const ds::ProgressEvent& e) {
            if (e.phase.rfind("loading", 0) == 0) loading << bar->text();
        });
        done.clear();
        w.run();
        QVERIFY(done.wait(120000));
        QCOMPARE(failed.count(), 0);
        QVERIFY(!loading.isEmpty());
        for (const auto& text : loading) QVERIFY2(text.startsWith(QStringLiteral("loading the IF stage II UNet (")), qPrintable(text));
        QVERIFY(loading.last().contains(QStringLiteral("100 %")));
        // A second run reuses both stages: nothing loads.
        loading.clear();
        done.clear();
        w.run();
        QVERIFY(done.wait(120000));
        QVERIFY2(loading.isEmpty(), qPrintable(loading.join(QStringLiteral(" | "))));
        const auto out = done.first().at(1).value<PartAOutput>();
        QVERIFY(out.recipe.contains(QStringLiteral("\"technique\": \"if-generate\"")));
        QVERIFY(out.recipe.contains(QStringLiteral("\"negative_prompt\": \"blurry\"")));
        QCOMPARE(out.images.size(), 1);
        QCOMPARE(out.images[0].width(), 32);
        QVERIFY(out.recipe.contains(QStringLiteral("\"upscaler\": \"%1\"").arg(upscaler->text())));
        QVERIFY(out.recipe.contains(QStringLiteral("\"upscale_steps\": 3")));
        // The recipe restores the stage II folder.
        const QString folder = upscaler->text();
        upscaler->clear();
        upscaleSteps->setValue(50);
        QVERIFY(w.applyRecipe(out.recipe));
        QCOMPARE(upscaler->text(), folder);
        QCOMPARE(upscaleSteps->value(), 3);
    }

    void stepsFieldSetsTheStridedList() {
        EngineController studio(engineOptions()), trainer(engineOptions());
        MainWindow w(&studio, &trainer);
        ds::Engine probe(engineOptions());
        w.populateModels(probe.bundled_models());
        w.setMode(MainWindow::Mode::Generate);
        auto* steps = w.findChild<QSpinBox*>(QStringLiteral("steps"));
        QVERIFY(steps);
        QCOMPARE(steps->value(), 34);
        steps->setValue(10);  // T = 300: 297, 264, ..., 0 (stride 33)
        QSignalSpy done(studio.worker(), &EngineWorker::partAFinished);
        QSignalSpy progress(studio.worker(), &EngineWorker::progress);
        connect(studio.worker(), &EngineWorker::frameReady, &studio, [&studio] { studio.worker()->frameConsumed(); });
        QVERIFY(w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "iterate", "seed": 2, "count": 1,
            "prompt": "4", "timesteps": [297, 264, 231, 198, 165, 132, 99, 66, 33, 0]})")));
        QCOMPARE(steps->value(), 10);
        w.run();
        QVERIFY(done.wait(60000));
        const QString recipe = done.first().at(1).value<PartAOutput>().recipe;
        const QJsonArray ts = QJsonDocument::fromJson(recipe.toUtf8()).object().value(QStringLiteral("timesteps")).toArray();
        QCOMPARE(ts.size(), 10);
        QCOMPARE(ts.first().toInt(), 297);
        QCOMPARE(ts.at(1).toInt(), 264);
        QCOMPARE(ts.last().toInt(), 0);
        QCOMPARE(progress.last().at(1).value<ds::ProgressEvent>().total, qint64(10));
    }

    void droppingASavedResultRestoresItsSettings() {
        EngineController studio(engineOptions()), trainer(engineOptions());
        MainWindow w(&studio, &trainer);
        ds::Engine probe(engineOptions());
        w.populateModels(probe.bundled_models());
        w.setMode(MainWindow::Mode::Generate);
        QTemporaryDir dir;
        const QString png = dir.filePath(QStringLiteral("result.png"));
        ds::write_png(ds::Image(8, 8, 1), png.toStdString(),
                      {{"ds.recipe", R"({"format": "ds.recipe/1", "technique": "hybrid", "seed": 4321, "guidance": 2.5,
                        "prompt_far": "1", "prompt_near": "7", "kernel": 15, "sigma": 1.0})"}});
        const QImage before = w.canvas()->image();
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(png)});
        w.canvas()->dropMime(&mime);
        QCOMPARE(int(w.mode()), int(MainWindow::Mode::Hybrid));
        QCOMPARE(w.findChild<QSpinBox*>(QStringLiteral("steps"))->value(), 34);
        QCOMPARE(w.canvas()->image(), before);  // the drawing is kept
        // A plain image (no recipe) goes onto the canvas.
        const QString plain = dir.filePath(QStringLiteral("plain.png"));
        QImage img(40, 30, QImage::Format_RGB32);
        img.fill(Qt::white);
        QVERIFY(img.save(plain));
        mime.setUrls({QUrl::fromLocalFile(plain)});
        w.canvas()->dropMime(&mime);
        QCOMPARE(w.canvas()->image().size(), QSize(40, 30));
        QCOMPARE(int(w.mode()), int(MainWindow::Mode::Hybrid));
    }

    void lossChartSmoothingIsADebiasedMovingAverage() {
        LossChart chart;
        chart.addLoss(0, 1.0);  // one large early loss, then a plateau
        for (int i = 1; i <= 100; ++i) chart.addLoss(i, 0.1);
        const auto& s = chart.smoothed();
        QCOMPARE(s.size(), qsizetype(101));
        QCOMPARE(s.front().y(), 1.0);  // debiased: the first point is the first loss
        for (qsizetype i = 1; i < s.size(); ++i) QVERIFY(s[i].y() < s[i - 1].y());  // no step back up
        QVERIFY(s[1].y() < 0.6);                            // the plateau takes over quickly...
        QVERIFY(std::abs(s.back().y() - 0.1) < 0.005);      // ...and the spike fades out
        chart.addLoss(101, std::nan(""));                   // not finite: ignored
        QCOMPARE(chart.smoothed().size(), qsizetype(101));
        chart.clear();
        chart.addLoss(0, 0.5);
        QCOMPARE(chart.smoothed().front().y(), 0.5);
    }

    void trainDashboardFormAndRunFolderRecipe() {
        EngineController c(engineOptions());
        TrainDashboard d(&c);
        auto* ema = d.findChild<QDoubleSpinBox*>(QStringLiteral("ema"));
        QVERIFY(ema);
        QTemporaryDir tmp;
        d.setOutputFolder(tmp.path() + QStringLiteral("/new-run"));
        QCOMPARE(d.request().ema, 0.0);  // off for a new run
        QCOMPARE(d.request().precision, std::string("fp32"));
        auto* precision = d.findChild<QComboBox*>(QStringLiteral("precision"));
        QVERIFY(precision);
        ema->setValue(0.999);
        QCOMPARE(d.request().ema, 0.999);
        QVERIFY(!d.request().resume);

        // Opening an existing run fills the form from its recipe, EMA included, and resumes it.
        QDir().mkpath(tmp.path() + QStringLiteral("/old-run"));
        QFile recipe(tmp.path() + QStringLiteral("/old-run/recipe.json"));
        QVERIFY(recipe.open(QIODevice::WriteOnly));
        recipe.write(R"({"kind": "time-fm", "dataset": "mnist", "epochs": 3, "seed": 7, "ema": 0.995,
                         "batch_size": 32, "lr": 0.005, "hidden": 16, "limit": 640, "precision": "bf16"})");
        recipe.close();
        d.setOutputFolder(tmp.path() + QStringLiteral("/old-run"));
        const auto r = d.request();
        QCOMPARE(int(r.kind), int(ds::ModelKind::TimeFm));
        QCOMPARE(r.epochs, 3);
        QCOMPARE(int(r.seed), 7);
        QCOMPARE(r.ema, 0.995);
        QCOMPARE(r.batch_size, 32);
        QCOMPARE(r.lr, 0.005);
        QCOMPARE(r.hidden, 16);
        QCOMPARE(r.limit, 640);
        QCOMPARE(r.precision, std::string("bf16"));
        QVERIFY(r.resume);
        ema->setValue(0);  // "off" on a resumed run keeps the run's own setting
        QCOMPARE(d.request().ema, -1.0);

        // Every objective option of `dstudio train`, set the way a person does, reaches the request;
        // rows the model kind does not use are disabled.
        auto* kind = d.findChild<QComboBox*>(QStringLiteral("kind"));
        auto* sigma = d.findChild<QDoubleSpinBox*>(QStringLiteral("sigma"));
        auto* pure = d.findChild<QCheckBox*>(QStringLiteral("pureNoise"));
        auto* decay = d.findChild<QComboBox*>(QStringLiteral("lrDecay"));
        auto* puncond = d.findChild<QDoubleSpinBox*>(QStringLiteral("pUncond"));
        auto* grids = d.findChild<QCheckBox*>(QStringLiteral("grids"));
        QVERIFY(kind && sigma && pure && decay && puncond && grids);
        QCOMPARE(d.request().lr_decay, -1);  // course default
        kind->setCurrentText(QStringLiteral("denoiser"));
        QVERIFY(sigma->isEnabled() && pure->isEnabled() && !puncond->isEnabled());
        sigma->setValue(0.75);
        QCOMPARE(d.request().sigma, 0.75);
        QTest::mouseClick(pure, Qt::LeftButton, {}, QPoint(5, pure->height() / 2));
        QVERIFY(d.request().pure_noise);
        QVERIFY(!sigma->isEnabled());  // pure noise ignores sigma
        kind->setCurrentText(QStringLiteral("class-fm"));
        QVERIFY(!sigma->isEnabled() && !pure->isEnabled() && puncond->isEnabled());
        puncond->setValue(0.2);
        QCOMPARE(d.request().p_uncond, 0.2);
        decay->setCurrentIndex(2);
        QCOMPARE(d.request().lr_decay, 0);  // off: the course's no-scheduler experiment
        decay->setCurrentIndex(1);
        QCOMPARE(d.request().lr_decay, 1);
        QTest::mouseClick(grids, Qt::LeftButton, {}, QPoint(5, grids->height() / 2));
        QCOMPARE(d.request().epoch_grids, 0);

        // Two epochs' grids (dark and bright): the comparison shows both side by side.
        QDir().mkpath(tmp.path() + QStringLiteral("/old-run/samples"));
        QImage dark(20, 10, QImage::Format_RGB32), bright(20, 10, QImage::Format_RGB32);
        dark.fill(QColor(40, 40, 40));
        bright.fill(QColor(230, 230, 230));
        QVERIFY(dark.save(tmp.path() + QStringLiteral("/old-run/samples/epoch_001.png")));
        QVERIFY(bright.save(tmp.path() + QStringLiteral("/old-run/samples/epoch_002.png")));
        d.resize(1200, 800);
        d.setOutputFolder(tmp.path() + QStringLiteral("/old-run"));
        auto* other = d.findChild<QComboBox*>(QStringLiteral("compareEpoch"));
        QVERIFY(other);
        QCOMPARE(other->count(), 3);  // off, epoch_001, epoch_002
        auto* view = d.findChild<CompareView*>();
        QVERIFY(view);
        QVERIFY(!view->isVisibleTo(&d));  // no comparison yet: the latest grid alone
        other->setCurrentIndex(1);        // latest (epoch 2) next to epoch 1
        QVERIFY(view->isVisibleTo(&d));
        view->resize(400, 200);
        const QImage shown = view->rendered();
        bool sawDark = false, sawBright = false;
        for (int y = 0; y < shown.height(); y += 4)
            for (int x = 0; x < shown.width(); x += 4) {
                const QColor px = shown.pixelColor(x, y);
                sawDark |= px == QColor(40, 40, 40);
                sawBright |= px == QColor(230, 230, 230);
            }
        QVERIFY(sawDark && sawBright);
        d.setOutputFolder(tmp.path() + QStringLiteral("/old-run"));  // refresh keeps the choice
        QCOMPARE(other->currentText(), QStringLiteral("epoch_001"));
    }

    void settingsOfferTheDevicesAndFlagFp16OnTheCpu() {
        EngineController studio(engineOptions()), trainer(engineOptions());
        MainWindow w(&studio, &trainer);
        bool checked = false;
        QTimer::singleShot(300, [&checked] {
            auto* dialog = qobject_cast<QDialog*>(QApplication::activeModalWidget());
            if (!dialog) return;
            auto* dtype = dialog->findChild<QComboBox*>(QStringLiteral("dtype"));
            auto* device = dialog->findChild<QComboBox*>(QStringLiteral("device"));
            auto* note = dialog->findChild<QLabel*>(QStringLiteral("dtypeNote"));
            if (dtype && device && note && device->count() == int(ds::Engine::device_choices().size()) &&
                device->itemText(0) == QStringLiteral("cpu")) {
                dtype->setCurrentText(QStringLiteral("fp16"));
                device->setCurrentText(QStringLiteral("cpu"));
                const bool flagged = !note->isHidden() && note->text().contains(QStringLiteral("GPU only"));
                dtype->setCurrentText(QStringLiteral("fp32"));
                const bool cleared = note->isHidden();
                checked = flagged && cleared;
            }
            dialog->accept();
        });
        w.editSettings();
        QVERIFY(checked);
        QCOMPARE(QSettings().value(QStringLiteral("device")).toString(), QStringLiteral("cpu"));
        QCOMPARE(QSettings().value(QStringLiteral("dtype")).toString(), QStringLiteral("fp32"));
    }

    void guiThreadStaysResponsiveDuringARun() {
        // Timer probe: a 5 ms timer on the GUI thread while the worker samples; the gaps between
        // ticks are the GUI thread's stalls. Reported (p99, max); asserted only against blocking.
        EngineController c(engineOptions());
        QSignalSpy done(c.worker(), &EngineWorker::partAFinished);
        connect(c.worker(), &EngineWorker::frameReady, &c, [&c] { c.worker()->frameConsumed(); });
        QVector<qint64> gaps;
        QElapsedTimer clock;
        clock.start();
        qint64 last = 0;
        QTimer probe;
        probe.setInterval(5);
        connect(&probe, &QTimer::timeout, [&] {
            const qint64 now = clock.nsecsElapsed();
            if (last) gaps.append(now - last);
            last = now;
        });
        probe.start();
        auto r = smallSample();
        r.sampler.count = 4;
        c.runPartA(r);
        QVERIFY(done.wait(60000));
        probe.stop();
        QVERIFY(gaps.size() > 10);
        std::sort(gaps.begin(), gaps.end());
        const double p99 = gaps[int(gaps.size() * 0.99)] / 1e6, worst = gaps.last() / 1e6;
        qInfo("GUI-thread timer gaps during a run: %lld ticks, p99 %.1f ms, max %.1f ms", qint64(gaps.size()), p99, worst);
        QVERIFY(worst < 1000.0);  // never blocked by the job
    }
};

QTEST_MAIN(UiTests)
#include "test_ui.moc"
