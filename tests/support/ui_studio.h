#pragma once
// Shared by the QtTest files under tests/ui: the main window with the bundled models, shown
// offscreen, frames acknowledged; and mouse helpers that drive the canvas as a person does.
#include <QApplication>
#include <QComboBox>
#include <QLabel>
#include <QMouseEvent>
#include <QStandardItemModel>
#include <QTest>

#include "core/engine/engine.h"
#include "ui/bridge/engine_controller.h"
#include "ui/canvas/image_canvas.h"
#include "ui/main_window.h"

namespace uitest {

inline ds::EngineOptions engineOptions() {
    ds::EngineOptions o;
    o.threads = 1;
    o.assets_dir = std::string(DS_SOURCE_DIR) + "/assets";
    return o;
}

inline void send(QWidget* w, QEvent::Type type, QPointF pos, Qt::MouseButton button, Qt::MouseButtons buttons) {
    QMouseEvent e(type, pos, w->mapToGlobal(pos), button, buttons, Qt::NoModifier);
    QApplication::sendEvent(w, &e);
}

// A pen stroke on the canvas between two document points, as a mouse drag.
inline void stroke(ui::ImageCanvas* c, QPointF fromDoc, QPointF toDoc) {
    send(c, QEvent::MouseButtonPress, c->toWidget(fromDoc), Qt::LeftButton, Qt::LeftButton);
    for (int i = 1; i <= 10; ++i)
        send(c, QEvent::MouseMove, c->toWidget(fromDoc + (toDoc - fromDoc) * (i / 10.0)), Qt::NoButton, Qt::LeftButton);
    send(c, QEvent::MouseButtonRelease, c->toWidget(toDoc), Qt::LeftButton, Qt::NoButton);
}

struct Studio {
    ui::EngineController studio{engineOptions()}, trainer{engineOptions()};
    ui::MainWindow w{&studio, &trainer};
    Studio() {
        ds::Engine probe(engineOptions());
        w.populateModels(probe.bundled_models());
        w.resize(1400, 800);
        w.show();
        QObject::connect(studio.worker(), &ui::EngineWorker::frameReady, &studio, [this] { studio.worker()->frameConsumed(); });
    }
    template <typename T>
    T* find(const char* name) {
        return w.findChild<T*>(QString::fromLatin1(name));
    }
    QComboBox* model() { return find<QComboBox>("model"); }
    QString status() { return find<QLabel>("status")->text(); }
    bool enabledInList(const QString& id) {
        auto* items = qobject_cast<QStandardItemModel*>(model()->model());
        const int i = model()->findText(id);
        return i >= 0 && items->item(i)->isEnabled();
    }
    void selectModel(const QString& id) { model()->setCurrentIndex(model()->findText(id)); }
    // Picks the item whose data is `data` in a combo box, by keyboard as a person would.
    static void pick(QComboBox* box, const QVariant& data) {
        const int target = box->findData(data);
        box->setFocus();
        while (box->currentIndex() < target) QTest::keyClick(box, Qt::Key_Down);
        while (box->currentIndex() > target) QTest::keyClick(box, Qt::Key_Up);
    }
};

}  // namespace uitest
