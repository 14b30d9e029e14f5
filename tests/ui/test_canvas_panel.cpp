// QtTest of the canvas panel (ui/canvas/canvas_panel): the Size slider follows the [ and ] keys,
// the mask tools show only where a mode reads the mask. Offscreen.
#include <QSettings>
#include <QSlider>
#include <QTest>
#include <QToolButton>

#include "ui/canvas/canvas_panel.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class CanvasPanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-canvas"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void bracketKeysMoveTheSizeSlider() {
        CanvasPanel p;
        p.resize(500, 500);
        p.show();
        auto* size = p.findChild<QSlider*>(QStringLiteral("brushSize"));
        QVERIFY(size);
        const int before = size->value();
        p.canvas()->setFocus();
        QTest::keyClick(p.canvas(), Qt::Key_BracketRight);
        QVERIFY(size->value() > before);
        QCOMPARE(size->value(), p.canvas()->brushSize());
        QTest::keyClick(p.canvas(), Qt::Key_BracketLeft);
        QTest::keyClick(p.canvas(), Qt::Key_BracketLeft);
        QVERIFY(size->value() < before);
        QCOMPARE(size->value(), p.canvas()->brushSize());
        size->setValue(40);  // and the slider sets the brush
        QCOMPARE(p.canvas()->brushSize(), 40);
    }

    void maskToolsOnlyWhereTheMaskIsRead() {
        Studio s;
        auto maskButton = [&s]() -> QToolButton* {
            for (auto* b : s.w.findChildren<QToolButton*>())
                if (b->text() == QStringLiteral("Mask")) return b;
            return nullptr;
        };
        QVERIFY(maskButton());
        s.w.setMode(MainWindow::Mode::Sdedit);
        QVERIFY(s.w.canvas()->isVisible());
        QVERIFY(!maskButton()->isVisible());
        s.w.setMode(MainWindow::Mode::Inpaint);
        QVERIFY(maskButton()->isVisible());
        // Generate reads no canvas: the canvas is not shown at all.
        s.w.setMode(MainWindow::Mode::Generate);
        QVERIFY(!s.w.canvas()->isVisible());
    }
};

QTEST_MAIN(CanvasPanelTests)
#include "test_canvas_panel.moc"
