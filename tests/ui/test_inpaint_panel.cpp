// QtTest of the inpainting panel (ui/panels/inpaint_panel): the run starts from pure noise (the
// course) unless the strength is lowered, grow and feather reach the request, a recipe sets them
// back; in the window, no mask means a hint, a painted mask a run whose "mask used" covers
// every model pixel a stroke touched (Grow = 0 leaves no edge of the original).
// Offscreen.
#include <QDoubleSpinBox>
#include <QJsonObject>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTest>

#include "core/engine/recipe.h"
#include "ui/panels/inpaint_panel.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class InpaintPanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-inpaint"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void requestAndRecipe() {
        InpaintPanel p;
        ds::Engine probe(engineOptions());
        const ds::ModelInfo m = probe.describe("mnist-class-ddpm");
        p.setModel(&m, m.default_timesteps);
        p.findChild<QSpinBox*>(QStringLiteral("inpaintGrow"))->setValue(2);
        p.findChild<QDoubleSpinBox*>(QStringLiteral("inpaintFeather"))->setValue(1.5);
        RequestContext c;
        c.mask.image = ds::Image(28, 28, 1);
        auto r = std::get<ds::InpaintRequest>(p.request(c));
        QCOMPARE(r.i_start, 0);  // t = T-1: pure noise in the masked region
        QCOMPARE(r.grow, 2);
        QCOMPARE(r.feather, 1.5);
        QStringList lost;
        p.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "inpaint", "i_start": 10, "mask": {"grow": 0, "feather": 0.0}})", "test").settings, &lost);
        r = std::get<ds::InpaintRequest>(p.request(c));
        QCOMPARE(r.i_start, 10);
        QCOMPARE(r.grow, 0);
        QVERIFY(lost.isEmpty());
        p.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "inpaint", "i_start": 99})", "test").settings, &lost);
        QCOMPARE(lost.size(), 1);  // not in a 34-entry list
    }

    void aPaintedMaskRuns() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Inpaint);
        s.w.canvas()->setTool(ImageCanvas::Tool::Pen);
        s.w.canvas()->setBrushSize(24);
        stroke(s.w.canvas(), QPointF(140, 50), QPointF(140, 230));
        s.w.canvas()->clearMask();
        s.w.run();
        QVERIFY(s.status().startsWith(QStringLiteral("Paint a mask first")));
        QVERIFY(!s.studio.busy());
        s.w.canvas()->setTool(ImageCanvas::Tool::MaskBrush);
        s.w.canvas()->setBrushSize(60);
        stroke(s.w.canvas(), QPointF(63, 57), QPointF(217, 57));  // edges inside model pixels
        QVERIFY(!s.w.canvas()->maskIsEmpty());
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        s.w.run();
        QVERIFY(done.wait(60000));
        QImage used;
        for (const auto& [name, img] : done.last().at(1).value<PartAOutput>().panels)
            if (name == QStringLiteral("mask used")) used = img.convertToFormat(QImage::Format_Grayscale8);
        QVERIFY(!used.isNull());
        // Grow = 0 keeps nothing of the original under the stroke: every 28 x 28 model pixel the
        // painted mask touches (>= 128 anywhere in its cell of the document) is regenerated, and
        // no other.
        const QImage painted = s.w.canvas()->mask().convertToFormat(QImage::Format_Grayscale8);
        QCOMPARE(painted.width() % 28, 0);
        const int cell = painted.width() / 28, shown = used.width() / 28;
        int touched = 0;
        for (int cy = 0; cy < 28; ++cy)
            for (int cx = 0; cx < 28; ++cx) {
                bool any = false;
                for (int y = cy * cell; y < (cy + 1) * cell && !any; ++y)
                    for (int x = cx * cell; x < (cx + 1) * cell && !any; ++x) any = qGray(painted.pixel(x, y)) >= 128;
                touched += any;
                const bool white = qGray(used.pixel(cx * shown + shown / 2, cy * shown + shown / 2)) >= 128;
                QVERIFY2(white == any, qPrintable(QStringLiteral("model pixel %1,%2").arg(cx).arg(cy)));
            }
        QVERIFY(touched > 20);
        QTRY_VERIFY(!s.studio.busy());
    }
};

QTEST_MAIN(InpaintPanelTests)
#include "test_inpaint_panel.moc"
