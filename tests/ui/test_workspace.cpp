// QtTest of session restore (ui/workspace): a user's opened checkpoint, mode, prompts, samples,
// steps and panel options come back after quit and relaunch; what cannot come back (a deleted
// checkpoint, a recipe's missing model or prompt) is named in the status bar, never dropped
// silently. Offscreen.
#include <QCheckBox>
#include <QDir>
#include <QFile>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class WorkspaceTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-workspace"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void anOpenedCheckpointAndEveryFieldComeBack() {
        QTemporaryDir dir;
        const QString checkpoint = dir.filePath(QStringLiteral("my-run.safetensors"));
        QVERIFY(QFile::copy(QStringLiteral(DS_SOURCE_DIR "/assets/models/mnist-class-fm.safetensors"), checkpoint));
        QString id;
        {
            Studio s;
            ds::Engine probe(engineOptions());
            s.w.addModel(probe.describe(checkpoint.toStdString()));  // "Open this checkpoint in the studio"
            id = s.model()->currentText();
            s.w.setMode(MainWindow::Mode::Anagram);
            QCOMPARE(s.model()->currentText(), id);
            Studio::pick(s.find<QComboBox>("prompt"), QStringLiteral("6"));
            Studio::pick(s.find<QComboBox>("prompt2"), QStringLiteral("9"));
            s.find<QSpinBox>("samples")->setValue(2);
            s.find<QSpinBox>("steps")->setValue(20);
            s.find<QComboBox>("anagramView")->setCurrentText(QStringLiteral("flipv"));
            s.w.close();
        }
        {
            Studio s;  // the relaunch
            QCOMPARE(s.w.mode(), MainWindow::Mode::Anagram);
            QCOMPARE(s.model()->currentText(), id);
            QCOMPARE(s.find<QComboBox>("prompt")->currentData().toString(), QStringLiteral("6"));
            QCOMPARE(s.find<QComboBox>("prompt2")->currentData().toString(), QStringLiteral("9"));
            QCOMPARE(s.find<QSpinBox>("samples")->value(), 2);
            QCOMPARE(s.find<QSpinBox>("steps")->value(), 20);
            QCOMPARE(s.find<QComboBox>("anagramView")->currentText(), QStringLiteral("flipv"));
            QVERIFY(!s.status().contains(QStringLiteral("except")));
            s.w.close();
        }
        QVERIFY(QFile::remove(checkpoint));
        {
            Studio s;  // the checkpoint is gone: said so, by name
            QVERIFY(s.status().contains(QStringLiteral("except")));
            QVERIFY(s.status().contains(checkpoint));
            QVERIFY(s.model()->currentText() != id);
        }
    }

    void panelOptionsComeBack() {
        {
            Studio s;
            s.w.setMode(MainWindow::Mode::Sdedit);
            auto* strength = s.find<QSlider>("sdeditStrength");
            strength->setValue(123);
            s.w.setMode(MainWindow::Mode::Denoise);
            s.find<QSlider>("denoiseSigma")->setValue(80);
            s.w.setMode(MainWindow::Mode::Explore);
            s.find<QSlider>("exploreT")->setValue(42);
            s.w.close();
        }
        Studio s;
        QCOMPARE(s.w.mode(), MainWindow::Mode::Explore);
        QCOMPARE(s.find<QSlider>("exploreT")->value(), 42);
        QCOMPARE(s.find<QSlider>("sdeditStrength")->value(), 123);
        QCOMPARE(s.find<QSlider>("denoiseSigma")->value(), 80);
    }

    void theAutosaveSurvivesACrash() {
        {
            Studio s;
            s.w.setMode(MainWindow::Mode::Hybrid);
            Studio::pick(s.find<QComboBox>("prompt"), QStringLiteral("2"));
            s.find<QSpinBox>("hybridKernel")->setValue(21);
            QVERIFY(s.w.autosave());  // what the 30 s timer does
            s.find<QSpinBox>("hybridKernel")->setValue(9);  // changed after the autosave: lost in the crash
            // No close(): the window is destroyed as a crash would leave it.
        }
        Studio s;
        QCOMPARE(s.w.mode(), MainWindow::Mode::Hybrid);
        QCOMPARE(s.find<QComboBox>("prompt")->currentData().toString(), QStringLiteral("2"));
        QCOMPARE(s.find<QSpinBox>("hybridKernel")->value(), 21);
    }

    void aRecipeWithAMissingModelSaysSo() {
        Studio s;
        s.w.setMode(MainWindow::Mode::Generate);
        const QString before = s.model()->currentText();
        QStringList lost;
        QVERIFY(s.w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "iterate", "seed": 3,
            "model": "/no/such/run", "prompt": "4"})"), nullptr, &lost));
        QCOMPARE(lost.size(), 1);
        QVERIFY(s.status().contains(QStringLiteral("except")));
        QVERIFY(s.status().contains(QStringLiteral("/no/such/run")));
        QCOMPARE(s.model()->currentText(), before);
        // A prompt the model does not offer, and an anagram view the Studio does not list.
        QVERIFY(s.w.applyRecipe(QStringLiteral(R"({"format": "ds.recipe/1", "technique": "anagram", "seed": 3,
            "model": "mnist-class-ddpm", "prompts": ["4", "11"], "views": ["identity", "jigsaw3"]})"), nullptr, &lost));
        QCOMPARE(lost.size(), 2);
        QVERIFY(s.status().contains(QStringLiteral("'11'")));
        QVERIFY(s.status().contains(QStringLiteral("jigsaw3")));
    }
};

QTEST_MAIN(WorkspaceTests)
#include "test_workspace.moc"
