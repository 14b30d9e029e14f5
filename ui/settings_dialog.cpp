#include "ui/settings_dialog.h"

#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSpinBox>

#include "core/engine/engine.h"

namespace ui {

bool editApplicationSettings(QWidget* parent) {
    QDialog dialog(parent);
    dialog.setWindowTitle(QObject::tr("Settings"));
    auto* form = new QFormLayout(&dialog);
    QSettings s;
    auto* threads = new QSpinBox(&dialog);
    threads->setRange(0, 256);
    threads->setSpecialValueText(QObject::tr("all cores"));
    threads->setValue(s.value(QStringLiteral("threads"), 0).toInt());
    auto* dtype = new QComboBox(&dialog);
    dtype->setObjectName(QStringLiteral("dtype"));
    for (const auto& d : ds::Engine::dtype_choices()) dtype->addItem(QString::fromStdString(d));
    dtype->setCurrentText(s.value(QStringLiteral("dtype"), QStringLiteral("auto")).toString());
    auto* device = new QComboBox(&dialog);
    device->setObjectName(QStringLiteral("device"));
    for (const auto& d : ds::Engine::device_choices()) device->addItem(QString::fromStdString(d));
    device->setCurrentText(s.value(QStringLiteral("device"), QStringLiteral("cpu")).toString());
    auto* preview = new QSpinBox(&dialog);
    preview->setRange(1, 1000);
    preview->setValue(s.value(QStringLiteral("previewInterval"), 1).toInt());
    auto* folder = new QLineEdit(s.value(QStringLiteral("outputFolder"), QDir::homePath()).toString(), &dialog);
    form->addRow(QObject::tr("Threads per worker (next start)"), threads);
    form->addRow(QObject::tr("Precision (next start)"), dtype);
    form->addRow(QObject::tr("DeepFloyd IF device (next start)"), device);
    auto* dtypeNote = new QLabel(&dialog);
    dtypeNote->setWordWrap(true);
    dtypeNote->setObjectName(QStringLiteral("dtypeNote"));
    auto updateNote = [dtypeNote, dtype, device]() {
        const QString d = dtype->currentText(), dev = device->currentText();
        auto note = QString::fromStdString(ds::Engine::dtype_warning(d.toStdString(), dev.toStdString()));
        if (d == QStringLiteral("auto"))
            note = QObject::tr("Per model family, what measured fastest on this CPU (bf16 or fp32; fp16 for IF on a GPU): "
                               "measured once, about a second, then kept. The status bar shows the choice.");
        if (d == QStringLiteral("fp32-w16"))
            note = QObject::tr("Weights kept in 16 bits (half the memory of fp32: IF-I-XL 8.6 GB instead of 17.2 GB), "
                      "arithmetic in fp32.");
        if (d == QStringLiteral("fp16") && dev == QStringLiteral("cpu"))
            note = QObject::tr("fp16 runs on a GPU only: pick a cuda device (a build against a CUDA LibTorch lists them), "
                      "or bf16 / fp32 on the CPU. Saved as is, the next start falls back to fp32 on the CPU.");
        dtypeNote->setText(note);
        dtypeNote->setVisible(!note.isEmpty());
    };
    updateNote();
    QObject::connect(dtype, &QComboBox::currentTextChanged, &dialog, updateNote);
    QObject::connect(device, &QComboBox::currentTextChanged, &dialog, updateNote);
    form->addRow(dtypeNote);
    form->addRow(QObject::tr("Preview a frame every N steps"), preview);
    form->addRow(QObject::tr("Output folder"), folder);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    form->addRow(buttons);
    QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    if (dialog.exec() != QDialog::Accepted) return false;
    s.setValue(QStringLiteral("threads"), threads->value());
    s.setValue(QStringLiteral("dtype"), dtype->currentText());
    s.setValue(QStringLiteral("device"), device->currentText());
    s.setValue(QStringLiteral("previewInterval"), preview->value());
    s.setValue(QStringLiteral("outputFolder"), folder->text());
    return true;
}

}  // namespace ui
