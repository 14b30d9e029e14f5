// QtTest of the SDEdit panel and its strength slider (ui/panels/sdedit_panel, strength_slider):
// strength is the timestep t the run starts from, shown as t, and it stays put when the Steps
// field changes; the request carries the list position nearest that t. Offscreen.
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QJsonObject>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTest>

#include "ui/panels/sdedit_panel.h"
#include "ui/panels/strength_slider.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class SdeditPanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-sdedit"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void strengthIsATimestepNotAListPosition() {
        StrengthSlider s(QStringLiteral("strength"));
        std::vector<double> abar(300, 0.5);
        std::vector<std::int64_t> list34;
        for (int k = 33; k >= 0; --k) list34.push_back(k * 9);
        s.setSchedule(300, abar, list34);
        QCOMPARE(s.t(), 207);  // the course's example, i_start 10 of 34
        QCOMPARE(s.iStart(), 10);
        // Ten steps (297..0 by 33): the same t, the nearest entry (198, position 3).
        std::vector<std::int64_t> list10;
        for (int k = 9; k >= 0; --k) list10.push_back(k * 33);
        s.setSchedule(300, abar, list10);
        QCOMPARE(s.t(), 207);
        QCOMPARE(s.iStart(), 3);
        QVERIFY(s.findChild<QLabel*>(QStringLiteral("strengthLabel"))->text().contains(QStringLiteral("t = 198")));
        QVERIFY(s.setIStart(0));
        QCOMPARE(s.t(), 297);
        QVERIFY(!s.setIStart(10));  // not in a 10-entry list
        // A t set before the model is known (workspace restore) is kept until it is.
        StrengthSlider early(QStringLiteral("early"));
        early.setT(120);
        early.setSchedule(300, abar, list34);
        QCOMPARE(early.t(), 120);
    }

    void changingStepsKeepsTheStrength() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Sdedit);
        auto* slider = s.find<QSlider>("sdeditStrength");
        auto* steps = s.find<QSpinBox>("steps");
        QVERIFY(slider && steps);
        slider->setFocus();
        QTest::keyClick(slider, Qt::Key_PageDown);  // a person nudging the strength
        const int t = slider->value();
        steps->setFocus();
        steps->selectAll();
        QTest::keyClicks(steps, QStringLiteral("3"));  // "34" -> "3"
        QCOMPARE(slider->value(), t);
        steps->selectAll();
        QTest::keyClicks(steps, QStringLiteral("34"));
        QCOMPARE(slider->value(), t);
        // The run starts at the list entry nearest t, which the recipe records as i_start.
        s.w.canvas()->setTool(ImageCanvas::Tool::Pen);
        s.w.canvas()->setBrushSize(24);
        QSignalSpy done(s.studio.worker(), &EngineWorker::partAFinished);
        stroke(s.w.canvas(), QPointF(140, 50), QPointF(140, 230));
        QVERIFY(done.wait(60000));
        const QJsonObject r = QJsonDocument::fromJson(done.last().at(1).value<PartAOutput>().recipe.toUtf8()).object();
        const int i = r.value(QStringLiteral("i_starts")).toArray()[0].toInt();
        QVERIFY(std::abs((33 - i) * 9 - t) <= 4);
        // The recipe brings the strength back after it moved.
        QTest::keyClick(slider, Qt::Key_Home);
        QVERIFY(s.w.applyRecipe(done.last().at(1).value<PartAOutput>().recipe));
        QCOMPARE(slider->value(), (33 - i) * 9);
        QTRY_VERIFY(!s.studio.busy());
    }
};

QTEST_MAIN(SdeditPanelTests)
#include "test_sdedit_panel.moc"
