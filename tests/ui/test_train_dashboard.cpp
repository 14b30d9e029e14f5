// QtTest of the Train tab's feedback (ui/dashboard/train_dashboard, loss_chart): how a run ended
// is said once (finished / stopped / failed), a resumed run keeps its curve, a failed start leaves
// nothing of the previous run on screen, the chart's axes carry readable labels. Offscreen; the
// runs are tiny (a few hundred images, no epoch grids).
#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QChart>
#include <QLabel>
#include <QLogValueAxis>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QValueAxis>

#include "ui/dashboard/loss_chart.h"
#include "ui/dashboard/train_dashboard.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class TrainDashboardTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-train"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void chartAxesAreReadable() {
        LossChart chart;
        auto* x = qobject_cast<QValueAxis*>(chart.chart()->axes(Qt::Horizontal).first());
        QVERIFY(x);
        QCOMPARE(x->min(), 0.0);  // empty: 0..100, not "0 0 0 0 1"
        QCOMPARE(x->max(), 100.0);
        for (int i = 1; i <= 500; ++i) chart.addLoss(i, 0.2 - 0.1 * i / 500.0);  // 0.1..0.2, inside one decade
        chart.flushNow();
        auto* y = qobject_cast<QLogValueAxis*>(chart.chart()->axes(Qt::Vertical).first());
        QVERIFY(y);
        QCOMPARE(y->min(), 0.01);  // whole decades: two labelled ticks at least
        QCOMPARE(y->max(), 1.0);
        QCOMPARE(x->max(), 500.0);
        // A resumed run redoes steps after its checkpoint: they replace the old points.
        chart.addLoss(401, 0.5);
        QCOMPARE(chart.rawPoints(), 401);
    }

    void aRunSaysHowItEndedAndResumeKeepsTheCurve() {
        QTemporaryDir tmp;
        EngineController c(engineOptions());
        TrainDashboard d(&c);
        d.show();
        auto* stats = d.findChild<QLabel*>(QStringLiteral("trainStats"));
        auto* log = d.findChild<QLabel*>(QStringLiteral("trainLog"));
        d.findChild<QComboBox*>(QStringLiteral("kind"))->setCurrentText(QStringLiteral("time-ddpm"));
        d.findChild<QSpinBox*>(QStringLiteral("epochs"))->setValue(1);
        d.findChild<QSpinBox*>(QStringLiteral("limit"))->setValue(256);
        d.findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(64);
        d.findChild<QSpinBox*>(QStringLiteral("hidden"))->setValue(8);
        d.findChild<QCheckBox*>(QStringLiteral("grids"))->setChecked(false);
        d.setOutputFolder(tmp.path() + QStringLiteral("/run"));
        QSignalSpy finished(c.worker(), &EngineWorker::trainFinished);
        d.start();
        QVERIFY(finished.wait(120000));
        QTRY_VERIFY(!c.busy());
        QVERIFY(stats->text().endsWith(QStringLiteral("(finished)")));
        QVERIFY(!stats->text().contains(QStringLiteral("stopped")));
        QCOMPARE(d.lossPoints(), 4);
        // Resume for a second epoch: the first epoch's points stay on the chart.
        d.findChild<QSpinBox*>(QStringLiteral("epochs"))->setValue(2);
        QVERIFY(d.findChild<QCheckBox*>(QStringLiteral("resume"))->isChecked());
        d.start();
        QCOMPARE(d.lossPoints(), 4);  // loaded from metrics.jsonl at the start
        QVERIFY(finished.wait(120000));
        QTRY_VERIFY(!c.busy());
        QCOMPARE(d.lossPoints(), 8);
        QVERIFY(stats->text().endsWith(QStringLiteral("(finished)")));
        // A start that fails (a file where the folder should be): said once, nothing of the
        // previous run left on screen.
        QFile blocker(tmp.path() + QStringLiteral("/not-a-folder"));
        QVERIFY(blocker.open(QIODevice::WriteOnly));
        blocker.close();
        d.setOutputFolder(blocker.fileName() + QStringLiteral("/run"));
        d.findChild<QCheckBox*>(QStringLiteral("resume"))->setChecked(false);
        QSignalSpy failed(c.worker(), &EngineWorker::failed);
        d.start();
        QVERIFY(failed.wait(60000));
        QTRY_VERIFY(!c.busy());
        QCOMPARE(d.lossPoints(), 0);
        QCOMPARE(stats->text(), QStringLiteral("(failed)"));
        QVERIFY(log->text().startsWith(QStringLiteral("Training failed")));
    }

    void workersFieldTrainsDataParallelWithTheSameChart() {
        // Workers = 2: this process is rank 0 and starts one dstudio worker (built beside the
        // test); the chart and the end-of-run line are those of a one-process run.
        QTemporaryDir tmp;
        EngineController c(engineOptions());
        TrainDashboard d(&c);
        d.show();
        auto* workers = d.findChild<QSpinBox*>(QStringLiteral("workers"));
        QVERIFY(workers);
        QCOMPARE(workers->value(), 1);
        QCOMPARE(d.request().nproc, 1);
        workers->setValue(2);
        QCOMPARE(d.request().nproc, 2);
        d.findChild<QComboBox*>(QStringLiteral("kind"))->setCurrentText(QStringLiteral("class-ddpm"));
        d.findChild<QSpinBox*>(QStringLiteral("epochs"))->setValue(1);
        d.findChild<QSpinBox*>(QStringLiteral("limit"))->setValue(256);
        d.findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(64);
        d.findChild<QSpinBox*>(QStringLiteral("hidden"))->setValue(8);
        d.findChild<QCheckBox*>(QStringLiteral("grids"))->setChecked(false);
        d.setOutputFolder(tmp.path() + QStringLiteral("/run"));
        QSignalSpy finished(c.worker(), &EngineWorker::trainFinished);
        QSignalSpy failed(c.worker(), &EngineWorker::failed);
        d.start();
        QVERIFY(finished.wait(180000));
        QTRY_VERIFY(!c.busy());
        QCOMPARE(failed.count(), 0);
        QCOMPARE(d.lossPoints(), 4);
        QVERIFY(d.findChild<QLabel*>(QStringLiteral("trainStats"))->text().endsWith(QStringLiteral("(finished)")));
        QVERIFY(QFile::exists(tmp.path() + QStringLiteral("/run/workers/rank-1.log")));
        QVERIFY(QFile::exists(tmp.path() + QStringLiteral("/run/checkpoint.safetensors")));
    }
};

QTEST_MAIN(TrainDashboardTests)
#include "test_train_dashboard.moc"
