// QtTest of the results side (ui/results/results_panel, history_strip, ui/panels/run_bar): the
// progress bar after a stop, the hybrid viewing distance (images only, labels untouched),
// history thumbnails that look the same after a restart. Offscreen.
#include <QLabel>
#include <QProgressBar>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include "ui/results/history_strip.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class ResultsPanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-results"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void aStoppedRunSaysWhereItStopped() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Generate);
        auto* steps = s.find<QSpinBox>("steps");
        steps->setValue(300);  // long enough to stop in the middle
        QSignalSpy progress(s.studio.worker(), &EngineWorker::progress);
        QSignalSpy cancelled(s.studio.worker(), &EngineWorker::cancelled);
        s.w.run();
        QTRY_VERIFY_WITH_TIMEOUT(progress.count() >= 3, 60000);
        QTest::keyClick(&s.w, Qt::Key_Escape);
        QVERIFY(cancelled.wait(30000));
        auto* bar = s.find<QProgressBar>("progress");
        QTRY_VERIFY(!s.studio.busy());
        QVERIFY(bar->value() < bar->maximum());
        QVERIFY(bar->text().startsWith(QStringLiteral("stopped at")));
        QVERIFY(!bar->text().contains(QStringLiteral("ETA")));
        QCOMPARE(s.status(), QStringLiteral("Stopped"));
        // A finished run fills the bar; a new run does not show the last one's figures meanwhile.
        steps->setValue(5);
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        s.w.run();
        QVERIFY2(bar->text().startsWith(QStringLiteral("starting")), qPrintable(bar->text()));
        QVERIFY(done.wait(60000));
        QCOMPARE(bar->value(), bar->maximum());
        QVERIFY(bar->text().startsWith(QStringLiteral("done in")));
    }

    void viewingDistanceBlursTheImagesNotTheLabels() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Hybrid);
        s.find<QSpinBox>("steps")->setValue(8);
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        s.w.run();
        QVERIFY(done.wait(60000));
        auto* figure = s.find<QLabel>("figure");
        auto shown = [figure] { return figure->pixmap().toImage(); };
        const QImage near = shown();
        // The labelled figure has its labels ("hybrid", "far: 7", ...) on white at the left.
        auto whiteAtLeft = [](const QImage& img) {
            for (int y = 0; y < img.height(); ++y)
                if (QColor(img.pixel(2, y)) == QColor(Qt::white)) return true;
            return false;
        };
        QVERIFY(whiteAtLeft(near));
        auto* distance = s.find<QSlider>("viewingDistance");
        distance->setFocus();
        QTest::keyClick(distance, Qt::Key_PageUp);
        QTest::keyClick(distance, Qt::Key_PageUp);
        const QImage far = shown();
        QVERIFY(far != near);
        // Only the result images, blurred: no label band.
        QVERIFY(!whiteAtLeft(far));
        QTest::keyClick(distance, Qt::Key_Home);
        QCOMPARE(shown(), near);
    }

    void historyThumbnailsSurviveARestart() {
        QTemporaryDir dir;
        HistoryStrip a;
        QImage figure(300, 80, QImage::Format_RGB32);
        figure.fill(Qt::white);
        QImage digit(28, 28, QImage::Format_RGB32);
        digit.fill(Qt::black);
        a.add(figure, digit, QStringLiteral(R"({"format": "ds.recipe/1", "technique": "sdedit"})"), QStringLiteral("SDEdit"));
        a.add(figure, digit, QStringLiteral(R"({"format": "ds.recipe/1", "technique": "hybrid"})"), QStringLiteral("Hybrid"));
        QVERIFY(a.save(dir.path()));
        HistoryStrip b;
        int skipped = -1;
        QCOMPARE(b.load(dir.path(), &skipped), 2);
        QCOMPARE(skipped, 0);
        QCOMPARE(b.recipeAt(0), a.recipeAt(0));  // newest first, as before
        QCOMPARE(b.item(0)->toolTip(), QStringLiteral("Hybrid"));
        // The icon is the digit thumbnail (black, square), not the wide white figure.
        const QImage icon = b.item(0)->icon().pixmap(72, 72).toImage();
        QCOMPARE(icon.size(), QSize(72, 72));
        QCOMPARE(QColor(icon.pixel(36, 36)), QColor(Qt::black));
        // A damaged entry is skipped and counted, the rest load.
        QFile junk(dir.filePath(QStringLiteral("005.png")));
        QVERIFY(junk.open(QIODevice::WriteOnly));
        junk.write("not a png");
        junk.close();
        HistoryStrip c;
        QCOMPARE(c.load(dir.path(), &skipped), 2);
        QCOMPARE(skipped, 1);
    }
};

QTEST_MAIN(ResultsPanelTests)
#include "test_results_panel.moc"
