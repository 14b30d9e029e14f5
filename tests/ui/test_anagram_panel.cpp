// QtTest of the visual-anagram panel (ui/panels/anagram_panel): the views come from the engine,
// the request pairs the two prompts with identity and the chosen view, an unknown view in a recipe
// is named. Offscreen.
#include <QComboBox>
#include <QJsonArray>
#include <QJsonObject>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTest>

#include "core/engine/recipe.h"
#include "ui/panels/anagram_panel.h"
#include "../support/ui_studio.h"

using namespace ui;
using namespace uitest;

class AnagramPanelTests : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("DiffusionStudioTests-anagram"));
        QSettings().clear();
    }
    void cleanupTestCase() { QSettings().clear(); }

    void anagramRequestAndViews() {
        AnagramPanel p;
        auto* view = p.findChild<QComboBox*>(QStringLiteral("anagramView"));
        QCOMPARE(view->count(), int(ds::Engine::anagram_views().size()) - 1);  // all but identity
        QCOMPARE(view->currentText(), QStringLiteral("rot180"));
        QCOMPARE(p.fields(nullptr).secondPrompt, QStringLiteral("Second prompt"));
        RequestContext c;
        c.sampler.prompt = "6";
        c.prompt2 = "9";
        view->setCurrentText(QStringLiteral("flipv"));
        const auto r = std::get<ds::AnagramRequest>(p.request(c));
        QCOMPARE(r.prompts, (std::vector<std::string>{"6", "9"}));
        QCOMPARE(r.views, (std::vector<std::string>{"identity", "flipv"}));
        QStringList lost;
        p.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "anagram", "views": ["identity", "jigsaw4"]})", "test").settings, &lost);
        QCOMPARE(p.view(), QStringLiteral("jigsaw4"));
        p.applyRecipe(ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "anagram", "views": ["identity", "jigsaw7:3"]})", "test").settings, &lost);
        QCOMPARE(lost.size(), 1);
        QCOMPARE(p.view(), QStringLiteral("jigsaw4"));  // unchanged
    }
};

QTEST_MAIN(AnagramPanelTests)
#include "test_anagram_panel.moc"
