// QtTest of the Studio's Part B modes (issue 21), driven as a person does: the Denoise mode (the
// single-step denoiser on the canvas, σ slider live, sweep strip, pure noise; its panel's
// request and recipe) and Generate with a flow-matching model (its own Euler steps). Offscreen.
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QMouseEvent>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTest>

#include "core/engine/recipe.h"
#include "core/engine/engine.h"
#include "ui/bridge/engine_controller.h"
#include "ui/canvas/image_canvas.h"
#include "ui/main_window.h"
#include "ui/panels/denoise_panel.h"
#include "../support/ui_studio.h"

using namespace ui;

using namespace uitest;

namespace {
QJsonObject recipeOf(const QSignalSpy& done) {
    return QJsonDocument::fromJson(done.last().at(1).value<PartAOutput>().recipe.toUtf8()).object();
}
}  // namespace

class StudioModeTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-modes"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void denoisePanelBuildsItsRequestAndRestoresARecipe() {
        DenoisePanel p;
        p.show();
        QCOMPARE(p.sigma(), 0.5);  // the training sigma
        auto* slider = p.findChild<QSlider*>(QStringLiteral("denoiseSigma"));
        auto* sweep = p.findChild<QCheckBox*>(QStringLiteral("denoiseSweep"));
        auto* pure = p.findChild<QCheckBox*>(QStringLiteral("denoisePureNoise"));
        QVERIFY(slider && sweep && pure);
        QSignalSpy changed(&p, &DenoisePanel::changed);
        slider->setFocus();
        QTest::keyClick(slider, Qt::Key_Right);  // one step: 0.01
        QCOMPARE(changed.count(), 1);
        QCOMPARE(p.sigma(), 0.51);
        QVERIFY(p.findChild<QLabel*>(QStringLiteral("denoiseSigmaLabel"))->text().contains(QStringLiteral("0.51")));
        ds::ImageInput input;
        input.image = ds::Image(28, 28, 1);
        auto r = p.request("mnist-denoiser", 7, 4, input);
        QCOMPARE(r.sigma, 0.51);
        QCOMPARE(r.seed, std::uint64_t(7));
        QVERIFY(!r.input.empty());
        QVERIFY(r.sweep.empty());
        QVERIFY(!r.pure_noise);
        QCOMPARE(r.count, 1);  // samples only matter for pure noise
        QTest::mouseClick(sweep, Qt::LeftButton, {}, QPoint(6, sweep->height() / 2));
        QCOMPARE(p.request("m", 0, 1, input).sweep, DenoisePanel::sweepSigmas());
        QTest::mouseClick(pure, Qt::LeftButton, {}, QPoint(6, pure->height() / 2));
        QVERIFY(p.pureNoise());
        QVERIFY(!slider->isEnabled());  // sigma means nothing for z = eps
        r = p.request("m", 0, 4, input);
        QVERIFY(r.pure_noise);
        QVERIFY(r.input.empty());
        QCOMPARE(r.count, 4);
        QCOMPARE(changed.count(), 3);
        // A recipe sets the three options back.
        DenoisePanel q;
        q.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "denoise", "sigma": 0.8, "sweep": [0, 0.5], "pure_noise": false})", "test").settings);
        QCOMPARE(q.sigma(), 0.8);
        QVERIFY(q.sweep());
        QVERIFY(!q.pureNoise());
    }

    void denoiseModeRunsLiveOnTheCanvas() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Generate);
        QVERIFY(!s.enabledInList(QStringLiteral("mnist-denoiser")));  // listed, greyed out
        auto* steps = s.w.findChild<QSpinBox*>(QStringLiteral("steps"));
        QCOMPARE(steps->value(), 34);
        s.w.setMode(MainWindow::Mode::Denoise);
        QCOMPARE(s.model()->currentText(), QStringLiteral("mnist-denoiser"));
        QVERIFY(!steps->isEnabled());
        QCOMPARE(steps->value(), 34);  // kept for the DDPM models (the denoiser has no timesteps)
        QVERIFY(!s.enabledInList(QStringLiteral("mnist-class-ddpm")));
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        QSignalSpy frames(s.studio.worker(), &EngineWorker::frameReady);
        QSignalSpy failed(s.studio.worker(), &EngineWorker::failed);
        // A blank canvas: a hint, no job.
        s.w.canvas()->clearImage();
        s.w.run();
        QVERIFY(s.status().contains(QStringLiteral("Draw a digit")));
        QVERIFY(!s.studio.busy());
        // A stroke re-runs by itself (live).
        s.w.canvas()->setTool(ImageCanvas::Tool::Pen);
        s.w.canvas()->setBrushSize(24);
        stroke(s.w.canvas(), QPointF(140, 50), QPointF(140, 230));
        QVERIFY(done.wait(60000));
        QCOMPARE(failed.count(), 0);
        QVERIFY(frames.count() >= 1);
        QCOMPARE(frames.last().at(5).toDouble(), 0.5);  // the frame's "t" is sigma
        QJsonObject r = recipeOf(done);
        QCOMPARE(r.value(QStringLiteral("technique")).toString(), QStringLiteral("denoise"));
        QCOMPARE(r.value(QStringLiteral("sigma")).toDouble(), 0.5);
        const auto out = done.last().at(1).value<PartAOutput>();
        QCOMPARE(out.images.size(), 1);
        // The denoiser keeps the drawn bar: the middle column of its output is bright.
        const QImage img = out.images[0].convertToFormat(QImage::Format_Grayscale8);
        QVERIFY(qGray(img.pixel(14, 14)) > 128);
        QVERIFY(qGray(img.pixel(3, 3)) < 64);
        // Moving the sigma slider re-runs with the new sigma.
        auto* slider = s.w.findChild<QSlider*>(QStringLiteral("denoiseSigma"));
        slider->setFocus();
        QTest::keyClick(slider, Qt::Key_PageUp);  // +0.10
        QVERIFY(done.wait(60000));
        QCOMPARE(recipeOf(done).value(QStringLiteral("sigma")).toDouble(), 0.6);
        // The sweep strip: the course's seven sigmas in the recipe and a figure twice as tall.
        const int shortFigure = done.last().at(1).value<PartAOutput>().figure.height();
        auto* sweep = s.w.findChild<QCheckBox*>(QStringLiteral("denoiseSweep"));
        QTest::mouseClick(sweep, Qt::LeftButton, {}, QPoint(6, sweep->height() / 2));
        QVERIFY(done.wait(60000));
        QCOMPARE(recipeOf(done).value(QStringLiteral("sweep")).toArray().size(), 7);
        QVERIFY(done.last().at(1).value<PartAOutput>().figure.height() > 2 * shortFigure);
        // Pure noise: one output per sample, the canvas unused.
        QTest::mouseClick(sweep, Qt::LeftButton, {}, QPoint(6, sweep->height() / 2));
        QVERIFY(done.wait(60000));
        auto* pure = s.w.findChild<QCheckBox*>(QStringLiteral("denoisePureNoise"));
        QTest::mouseClick(pure, Qt::LeftButton, {}, QPoint(6, pure->height() / 2));
        QVERIFY(done.wait(60000));
        QCOMPARE(recipeOf(done).value(QStringLiteral("pure_noise")).toBool(), true);
        QCOMPARE(done.last().at(1).value<PartAOutput>().images.size(), 4);  // Samples = 4
        // The result restores the mode and its options from the history (a recipe).
        const QString recipe = done.last().at(1).value<PartAOutput>().recipe;
        QTest::mouseClick(pure, Qt::LeftButton, {}, QPoint(6, pure->height() / 2));
        QVERIFY(done.wait(60000));
        s.w.setMode(MainWindow::Mode::Generate);
        QVERIFY(s.w.applyRecipe(recipe));
        QCOMPARE(s.w.mode(), MainWindow::Mode::Denoise);
        QVERIFY(pure->isChecked());
        QTRY_VERIFY(!s.studio.busy());
    }

    void generateWithAFlowModelTakesEulerSteps() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Generate);
        s.selectModel(QStringLiteral("mnist-class-fm"));
        auto* euler = s.w.findChild<QSpinBox*>(QStringLiteral("eulerSteps"));
        auto* steps = s.w.findChild<QSpinBox*>(QStringLiteral("steps"));
        QVERIFY(euler && steps);
        QVERIFY(euler->isVisibleTo(&s.w));
        QCOMPARE(euler->value(), 300);  // the course's class-conditioned count
        QVERIFY(!steps->isEnabled());    // the strided list is not used
        s.selectModel(QStringLiteral("mnist-time-fm"));
        QCOMPARE(euler->value(), 50);
        euler->setValue(8);
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        QSignalSpy progress(s.studio.worker(), &EngineWorker::progress);
        s.w.run();
        QVERIFY(done.wait(60000));
        const auto out = done.last().at(1).value<PartAOutput>();
        QCOMPARE(recipeOf(done).value(QStringLiteral("flow_steps")).toInt(), 8);
        QCOMPARE(progress.last().at(1).value<ds::ProgressEvent>().total, qint64(8));
        QCOMPARE(out.trajectoryT.size(), 8);
        QCOMPARE(out.trajectoryT.first(), 0.125);  // flow time after the first of 8 steps
        QCOMPARE(out.trajectoryT.last(), 1.0);
        // A user's own count survives a change of model; the recipe sets it back.
        s.selectModel(QStringLiteral("mnist-class-fm"));
        QCOMPARE(euler->value(), 8);
        euler->setValue(20);
        QVERIFY(s.w.applyRecipe(out.recipe));
        QCOMPARE(euler->value(), 8);
        QCOMPARE(s.model()->currentText(), QStringLiteral("mnist-time-fm"));
        // Other modes use the strided list (through the flow-to-DDPM adapter).
        s.w.setMode(MainWindow::Mode::Sdedit);
        QVERIFY(!euler->isVisibleTo(&s.w));
        QVERIFY(steps->isEnabled());
        QTRY_VERIFY(!s.studio.busy());
    }

    void aBlankCanvasGetsAHintNotAnError() {
        Studio s;
        QSignalSpy failed(s.studio.worker(), &EngineWorker::failed);
        s.w.canvas()->clearImage();
        for (auto m : {MainWindow::Mode::Explore, MainWindow::Mode::Sdedit, MainWindow::Mode::Denoise}) {
            s.w.setMode(m);
            s.w.run();
            QVERIFY(s.status().startsWith(QStringLiteral("Draw a digit")));
            QVERIFY(!s.studio.busy());
        }
        QCOMPARE(failed.count(), 0);
    }

    void openingADenoiserSwitchesToTheDenoiseMode() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Sdedit);
        ds::Engine probe(engineOptions());
        s.w.addModel(probe.describe("mnist-denoiser"));
        QCOMPARE(s.w.mode(), MainWindow::Mode::Denoise);
        QCOMPARE(s.model()->currentText(), QStringLiteral("mnist-denoiser"));
        s.w.addModel(probe.describe("mnist-class-ddpm"));
        QCOMPARE(s.w.mode(), MainWindow::Mode::Generate);
    }
};

QTEST_MAIN(StudioModeTests)
#include "test_studio_modes.moc"
