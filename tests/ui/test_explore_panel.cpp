// QtTest of the forward / denoise explorer's panel (ui/panels/explore_panel): t follows the
// model's T, the label shows ᾱ_t, the request carries t, a recipe sets it back (a t beyond the
// model's T is named), and the mode runs live as t moves. Offscreen.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QTest>

#include "core/engine/recipe.h"
#include "ui/panels/explore_panel.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class ExplorePanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-explore"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void tFollowsTheModelAndTheRecipe() {
        ExplorePanel p;
        ds::Engine probe(engineOptions());
        const ds::ModelInfo m = probe.describe("mnist-class-ddpm");
        p.setModel(&m, m.default_timesteps);
        auto* t = p.findChild<QSlider*>(QStringLiteral("exploreT"));
        QCOMPARE(t->maximum(), m.timesteps - 1);
        QCOMPARE(p.t(), m.timesteps / 2);
        QVERIFY(p.findChild<QLabel*>(QStringLiteral("exploreTLabel"))->text().contains(QStringLiteral("ᾱ_t")));
        RequestContext c;
        c.sampler.count = 4;
        const auto r = std::get<ds::NoiseExplorerRequest>(p.request(c));
        QCOMPARE(r.t_list.size(), std::size_t(1));
        QCOMPARE(int(r.t_list[0]), m.timesteps / 2);
        QCOMPARE(r.sampler.count, 1);  // one image: the explorer shows x_t and its estimate
        QStringList lost;
        p.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "explore", "t_list": [42]})", "test").settings, &lost);
        QCOMPARE(p.t(), 42);
        QVERIFY(lost.isEmpty());
        p.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "explore", "t_list": [5000]})", "test").settings, &lost);
        QCOMPARE(lost.size(), 1);
        // A model without a schedule (the denoiser) keeps t for the next one.
        const ds::ModelInfo d = probe.describe("mnist-denoiser");
        p.setModel(&d, {});
        QCOMPARE(t->maximum(), m.timesteps - 1);
    }

    void movingTRunsLive() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Explore);
        s.w.canvas()->setTool(ImageCanvas::Tool::Pen);
        s.w.canvas()->setBrushSize(24);
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        stroke(s.w.canvas(), QPointF(140, 50), QPointF(140, 230));
        QVERIFY(done.wait(60000));
        auto* t = s.find<QSlider>("exploreT");
        t->setFocus();
        QTest::keyClick(t, Qt::Key_Right);
        QVERIFY(done.wait(60000));
        const QJsonObject r = QJsonDocument::fromJson(done.last().at(1).value<PartAOutput>().recipe.toUtf8()).object();
        QCOMPARE(r.value(QStringLiteral("t_list")).toArray()[0].toInt(), t->value());
        QTRY_VERIFY(!s.studio.busy());
    }
};

QTEST_MAIN(ExplorePanelTests)
#include "test_explore_panel.moc"
