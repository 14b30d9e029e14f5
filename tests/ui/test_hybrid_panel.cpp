// QtTest of the hybrid-image panel (ui/panels/hybrid_panel): kernel and sigma reach the request
// (a key press re-runs a live mode), the viewing distance changes only the display. Offscreen.
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTest>

#include "ui/panels/hybrid_panel.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class HybridPanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-hybrid"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void hybridRequestAndDistance() {
        HybridPanel p;
        QSignalSpy changed(&p, &ModePanel::changed);
        QSignalSpy distance(&p, &HybridPanel::viewingDistanceChanged);
        auto* kernel = p.findChild<QSpinBox*>(QStringLiteral("hybridKernel"));
        kernel->setFocus();
        QTest::keyClick(kernel, Qt::Key_Down);  // 33 -> 31
        QCOMPARE(changed.count(), 1);
        RequestContext c;
        c.sampler.prompt = "0";
        c.prompt2 = "8";
        const auto r = std::get<ds::HybridRequest>(p.request(c));
        QCOMPARE(r.kernel, 31);
        QCOMPARE(r.prompt_far, std::string("0"));
        QCOMPARE(r.prompt_near, std::string("8"));
        auto* d = p.findChild<QSlider*>(QStringLiteral("viewingDistance"));
        d->setFocus();
        QTest::keyClick(d, Qt::Key_Right);
        QCOMPARE(distance.count(), 1);
        QCOMPARE(changed.count(), 1);  // the display only: no new run
    }
};

QTEST_MAIN(HybridPanelTests)
#include "test_hybrid_panel.moc"
