// QtTest of the shared settings panel (ui/panels/settings_panel) and of "live means live": in a
// live mode every change of prompt, guidance, seed or samples re-runs, debounced, newer cancelling
// older. Driven by keyboard and mouse; offscreen.
#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTest>

#include "core/engine/recipe.h"
#include "ui/panels/precision_label.h"
#include "ui/panels/settings_panel.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

namespace {
QJsonObject recipeOf(const QSignalSpy& done) {
    return QJsonDocument::fromJson(done.last().at(1).value<PartAOutput>().recipe.toUtf8()).object();
}
}  // namespace

class SettingsPanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-settings"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void precisionLabelNamesWhatEachFamilyRunsIn() {
        PrecisionLabel label;
        QCOMPARE(label.objectName(), QStringLiteral("precision"));
        label.setPrecision(QStringLiteral("auto"),
                           {{"MNIST UNet", "bf16", "auto: bf16 for the MNIST UNet (1.79x fp32)"},
                            {"DeepFloyd IF", "fp32", "auto: fp32 (no bf16 instructions)"}});
        QCOMPARE(label.text(), QStringLiteral("auto: MNIST bf16, IF fp32"));
        QVERIFY(label.toolTip().contains(QStringLiteral("MNIST UNet: auto: bf16 for the MNIST UNet (1.79x fp32)")));
        QVERIFY(label.toolTip().contains(QStringLiteral("DeepFloyd IF: auto: fp32")));
        // A fixed dtype, as the engine describes it (nothing measured).
        ds::EngineOptions o;
        o.dtype = "fp32";
        label.setPrecision(QStringLiteral("fp32"), ds::describe_precision(o));
        QCOMPARE(label.text(), QStringLiteral("fp32: MNIST fp32, IF fp32"));
    }

    void fieldsFollowTheModelAndTheMode() {
        SettingsPanel p;
        p.show();
        ds::Engine probe(engineOptions());
        p.setModels(probe.bundled_models());
        QCOMPARE(p.currentModel()->id, std::string("mnist-class-ddpm"));
        auto* prompt = p.findChild<QComboBox*>(QStringLiteral("prompt"));
        auto* guidance = p.findChild<QDoubleSpinBox*>(QStringLiteral("guidance"));
        auto* steps = p.findChild<QSpinBox*>(QStringLiteral("steps"));
        QCOMPARE(prompt->currentData().toString(), QStringLiteral("7"));
        QVERIFY(guidance->isEnabled());
        // The default list is the model's own (297..0 by 9), 10 steps stride 33.
        QCOMPARE(p.timestepList().size(), std::size_t(34));
        QVERIFY(p.samplerSettings().timesteps.empty());  // implicit: recipes stay identical
        steps->setFocus();
        steps->selectAll();
        QTest::keyClicks(steps, QStringLiteral("10"));
        QCOMPARE(p.timestepList(), (std::vector<std::int64_t>{297, 264, 231, 198, 165, 132, 99, 66, 33, 0}));
        // An unconditional model: prompt and guidance greyed out.
        QVERIFY(p.selectModel(QStringLiteral("mnist-time-ddpm")));
        QVERIFY(!prompt->isEnabled());
        QVERIFY(!guidance->isEnabled());
        QCOMPARE(p.samplerSettings().guidance, -1.0);
        // A mode's field use: the denoiser's mode uses no prompt, guidance or steps.
        p.setMode(Mode::Denoise);
        QCOMPARE(p.currentModel()->id, std::string("mnist-denoiser"));  // moved to a model the mode can use
        FieldUse none;
        none.prompt = none.guidance = none.steps = none.samples = false;
        p.setFieldUse(none);
        QVERIFY(!steps->isEnabled());
        QVERIFY(!p.findChild<QSpinBox*>(QStringLiteral("samples"))->isEnabled());
    }

    void aRecipeNamesWhatItCannotRestore() {
        SettingsPanel p;
        ds::Engine probe(engineOptions());
        p.setModels(probe.bundled_models());
        QStringList lost;
        p.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "anagram", "seed": 12, "guidance": 3.5, "prompts": ["4", "12"]})", "test").settings, &lost);
        QCOMPARE(p.samplerSettings().seed, std::uint64_t(12));
        QCOMPARE(p.samplerSettings().guidance, 3.5);
        QCOMPARE(p.samplerSettings().prompt, std::string("4"));
        QCOMPARE(lost.size(), 1);
        QVERIFY(lost[0].contains(QStringLiteral("'12'")));
    }

    void aLiveModeRerunsOnEveryChange() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Sdedit);
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        QSignalSpy started(s.studio.worker(), &EngineWorker::started);
        s.w.canvas()->setTool(ImageCanvas::Tool::Pen);
        s.w.canvas()->setBrushSize(24);
        stroke(s.w.canvas(), QPointF(140, 50), QPointF(140, 230));  // a stroke: a run
        QVERIFY(done.wait(60000));
        QCOMPARE(recipeOf(done).value(QStringLiteral("prompt")).toString(), QStringLiteral("7"));
        // The prompt, by keyboard: a run with the new prompt.
        Studio::pick(s.find<QComboBox>("prompt"), QStringLiteral("3"));
        QVERIFY(done.wait(60000));
        QCOMPARE(recipeOf(done).value(QStringLiteral("prompt")).toString(), QStringLiteral("3"));
        // Guidance and seed, by the spin boxes' arrow keys.
        auto* guidance = s.find<QDoubleSpinBox>("guidance");
        guidance->setFocus();
        QTest::keyClick(guidance, Qt::Key_Up);
        QVERIFY(done.wait(60000));
        QCOMPARE(recipeOf(done).value(QStringLiteral("guidance")).toDouble(), 5.5);
        auto* seed = s.find<QSpinBox>("seed");
        seed->setFocus();
        QTest::keyClick(seed, Qt::Key_Up);
        QVERIFY(done.wait(60000));
        QCOMPARE(recipeOf(done).value(QStringLiteral("seed")).toInt(), 1);
        // Three quick key presses inside the debounce window: one run, with the last value.
        const int before = started.count();
        QTest::keyClick(seed, Qt::Key_Up);
        QTest::keyClick(seed, Qt::Key_Up);
        QTest::keyClick(seed, Qt::Key_Up);
        QVERIFY(done.wait(60000));
        QCOMPARE(started.count(), before + 1);
        QCOMPARE(recipeOf(done).value(QStringLiteral("seed")).toInt(), 4);
        // Live off: a change does not run.
        auto* live = s.find<QCheckBox>("sdeditLive");
        QTest::mouseClick(live, Qt::LeftButton, {}, QPoint(6, live->height() / 2));
        QVERIFY(!live->isChecked());
        QTest::keyClick(seed, Qt::Key_Up);
        QVERIFY(!done.wait(MainWindow::kLiveDebounceMs * 4));
        QTRY_VERIFY(!s.studio.busy());
    }
};

QTEST_MAIN(SettingsPanelTests)
#include "test_settings_panel.moc"
