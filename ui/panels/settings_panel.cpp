#include "ui/panels/settings_panel.h"

#include "core/engine/engine.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QRandomGenerator>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QToolButton>
#include <algorithm>

namespace ui {

namespace {
const char* kModeNames[] = {"Generate", "Forward / denoise explorer", "SDEdit (image-to-image)",
                            "Inpaint", "Visual anagram", "Hybrid image", "Denoise (single-step denoiser)"};
bool isIf(const ds::ModelInfo* m) { return m && m->family == "deepfloyd-if"; }
}  // namespace

bool SettingsPanel::isDenoiser(const ds::ModelInfo& m) { return m.family == "mnist" && m.kind == ds::ModelKind::Denoiser; }
bool SettingsPanel::fitsMode(const ds::ModelInfo& m, Mode mode) { return isDenoiser(m) == (mode == Mode::Denoise); }

SettingsPanel::SettingsPanel(QWidget* parent) : QWidget(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    m_mode = new QComboBox(this);
    m_mode->setObjectName(QStringLiteral("mode"));
    for (const char* n : kModeNames) m_mode->addItem(tr(n));
    m_model = new QComboBox(this);
    m_model->setObjectName(QStringLiteral("model"));
    m_prompt = new QComboBox(this);
    m_prompt->setObjectName(QStringLiteral("prompt"));
    m_prompt2 = new QComboBox(this);
    m_prompt2->setObjectName(QStringLiteral("prompt2"));
    m_prompt2Label = new QLabel(tr("Second prompt"), this);
    m_negative = new QLineEdit(this);
    m_negative->setObjectName(QStringLiteral("negativePrompt"));
    m_negative->setPlaceholderText(tr("(empty: IF's default)"));
    m_negative->setToolTip(tr("Negative prompt: the text CFG steers away from (DeepFloyd IF only)"));
    m_negativeLabel = new QLabel(tr("Negative prompt"), this);
    m_guidance = new QDoubleSpinBox(this);
    m_guidance->setObjectName(QStringLiteral("guidance"));
    m_guidance->setRange(0, 30);
    m_guidance->setSingleStep(0.5);
    m_guidance->setValue(5.0);
    m_guidance->setToolTip(tr("Classifier-free guidance γ: ε = ε_u + γ(ε_c − ε_u); 1 = no CFG"));
    m_seed = new QSpinBox(this);
    m_seed->setObjectName(QStringLiteral("seed"));
    m_seed->setRange(0, (1 << 30));
    m_seedLock = new QCheckBox(tr("lock"), this);
    m_seedLock->setObjectName(QStringLiteral("seedLock"));
    m_seedLock->setChecked(true);
    m_seedLock->setToolTip(tr("Locked: every run uses this seed. Unlocked: a new seed per run."));
    auto* dice = new QToolButton(this);
    dice->setText(tr("Random"));
    dice->setToolTip(tr("Random seed"));
    auto* seedRow = new QHBoxLayout;
    seedRow->addWidget(m_seed, 1);
    seedRow->addWidget(m_seedLock);
    seedRow->addWidget(dice);
    m_count = new QSpinBox(this);
    m_count->setObjectName(QStringLiteral("samples"));
    m_count->setRange(1, 16);
    m_count->setValue(4);
    m_steps = new QSpinBox(this);
    m_steps->setObjectName(QStringLiteral("steps"));
    m_steps->setRange(2, 1000);
    m_steps->setValue(kCourseSteps);
    m_steps->setToolTip(tr("Length of the strided timestep list (the course: 34, i.e. 990…0 by 30 for IF, "
                           "297…0 by 9 for T = 300)"));
    form->addRow(tr("Mode"), m_mode);
    form->addRow(tr("Model"), m_model);
    form->addRow(tr("Prompt"), m_prompt);
    form->addRow(m_prompt2Label, m_prompt2);
    form->addRow(m_negativeLabel, m_negative);
    form->addRow(tr("Guidance"), m_guidance);
    form->addRow(tr("Seed"), seedRow);
    form->addRow(tr("Samples"), m_count);
    form->addRow(tr("Steps"), m_steps);
    setFieldUse({});

    connect(m_mode, &QComboBox::currentIndexChanged, this, [this] {
        updateModelList();
        Q_EMIT modeChanged();
    });
    connect(m_model, &QComboBox::currentIndexChanged, this, &SettingsPanel::onModelChanged);
    connect(dice, &QToolButton::clicked, this, [this] { m_seed->setValue(QRandomGenerator::global()->bounded(1 << 30)); });
    connect(m_steps, &QSpinBox::valueChanged, this, [this] {
        Q_EMIT modelChanged();
        Q_EMIT changed();
    });
    for (auto* box : {m_prompt, m_prompt2}) connect(box, &QComboBox::currentIndexChanged, this, &SettingsPanel::changed);
    connect(m_prompt, &QComboBox::editTextChanged, this, &SettingsPanel::changed);
    connect(m_negative, &QLineEdit::editingFinished, this, &SettingsPanel::changed);
    connect(m_guidance, &QDoubleSpinBox::valueChanged, this, &SettingsPanel::changed);
    connect(m_seed, &QSpinBox::valueChanged, this, &SettingsPanel::changed);
    connect(m_count, &QSpinBox::valueChanged, this, &SettingsPanel::changed);
}

Mode SettingsPanel::mode() const { return Mode(std::max(0, m_mode->currentIndex())); }
void SettingsPanel::setMode(Mode mode) { m_mode->setCurrentIndex(int(mode)); }
QString SettingsPanel::modeName() const { return m_mode->currentText(); }

void SettingsPanel::setModels(const std::vector<ds::ModelInfo>& models) {
    const QSignalBlocker block(m_model);
    m_models.clear();
    m_model->clear();
    for (const auto& m : models) {
        if (!isIf(&m) && m.kind == ds::ModelKind::Classifier) continue;
        m_models.push_back(m);
        m_model->addItem(QString::fromStdString(m.id));
    }
    const int cls = m_model->findText(QStringLiteral("mnist-class-ddpm"));
    if (cls >= 0) m_model->setCurrentIndex(cls);
    updateModelList();
    onModelChanged();
}

bool SettingsPanel::addModel(const ds::ModelInfo& m) {
    const bool predictor = m.kind == ds::ModelKind::ClassDdpm || m.kind == ds::ModelKind::TimeDdpm ||
                           m.kind == ds::ModelKind::ClassFm || m.kind == ds::ModelKind::TimeFm;
    if (!isIf(&m) && !predictor && !isDenoiser(m)) return false;
    int index = -1;
    for (int i = 0; i < int(m_models.size()); ++i)
        if ((!m.path.empty() && m_models[i].path == m.path) || (m.path.empty() && m_models[i].id == m.id)) index = i;
    if (index < 0) {
        m_models.push_back(m);
        m_model->addItem(QString::fromStdString(m.id));
        index = int(m_models.size()) - 1;
    }
    // Selected, in a mode that can use it.
    if (!fitsMode(m, mode())) {
        const QSignalBlocker block(m_mode);
        setMode(isDenoiser(m) ? Mode::Denoise : Mode::Generate);
    }
    m_model->setCurrentIndex(index);
    updateModelList();
    onModelChanged();
    Q_EMIT modeChanged();
    return true;
}

const ds::ModelInfo* SettingsPanel::currentModel() const {
    const int i = m_model->currentIndex();
    return i >= 0 && i < int(m_models.size()) ? &m_models[i] : nullptr;
}

bool SettingsPanel::selectModel(const QString& name) {
    for (int i = 0; i < int(m_models.size()); ++i)
        if (QString::fromStdString(m_models[i].id) == name || (!m_models[i].path.empty() && QString::fromStdString(m_models[i].path) == name)) {
            m_model->setCurrentIndex(i);
            return true;
        }
    return false;
}

void SettingsPanel::updateModelList() {
    // Models the mode cannot use stay listed but greyed out; the selection moves to one it can.
    auto* items = qobject_cast<QStandardItemModel*>(m_model->model());
    for (int i = 0; i < int(m_models.size()) && items; ++i)
        if (auto* item = items->item(i)) item->setEnabled(fitsMode(m_models[i], mode()));
    if (const auto* m = currentModel(); !m || fitsMode(*m, mode())) return;
    int pick = -1;
    for (int i = 0; i < int(m_models.size()); ++i)
        if (fitsMode(m_models[i], mode()) && (pick < 0 || m_models[i].id == "mnist-class-ddpm")) pick = i;
    if (pick >= 0) m_model->setCurrentIndex(pick);
}

void SettingsPanel::onModelChanged() {
    const auto* m = currentModel();
    {
        const QSignalBlocker b1(m_prompt), b2(m_prompt2), b3(m_steps), b4(m_guidance);
        fillPrompt(m_prompt);
        fillPrompt(m_prompt2);
        // A model without timesteps (the denoiser) leaves Steps alone: its value is kept for the next.
        if (m && m->timesteps > 0) m_steps->setMaximum(std::max(2, m->timesteps));
        if (isIf(m) && m_guidance->value() == 5.0) m_guidance->setValue(7.0);
    }
    setFieldUse(m_use);
    Q_EMIT modelChanged();
}

void SettingsPanel::fillPrompt(QComboBox* box) {
    const QVariant keep = box->count() > 0 ? box->currentData() : QVariant();
    box->clear();
    const auto* m = currentModel();
    box->setEditable(isIf(m));
    if (isIf(m)) {  // free text; the course's prompts as suggestions
        for (const char* p : {"a high quality photo", "an oil painting of a snowy mountain village", "a man wearing a hat",
                              "a rocket ship", "an oil painting of an old man", "an oil painting of people around a campfire",
                              "a lithograph of a skull", "a lithograph of waterfalls", ""})
            box->addItem(QString::fromUtf8(p), QString::fromUtf8(p));
        return;
    }
    if (!m || m->num_classes == 0) {
        box->addItem(tr("(unconditional model)"), QString());
        return;
    }
    box->addItem(tr("unconditional"), QString());
    for (int c = 0; c < m->num_classes; ++c) {
        const QString name = c < int(m->class_names.size()) ? QString::fromStdString(m->class_names[c]) : QString::number(c);
        box->addItem(name, QString::number(c));
    }
    const int i = keep.isValid() ? box->findData(keep) : -1;
    // Default: the digit 7 for the first prompt, 1 for the second (any class would do).
    const int fallback = std::min(box->count() - 1, 1 + (box == m_prompt ? 7 : 1));
    box->setCurrentIndex(i >= 0 ? i : fallback);
}

void SettingsPanel::setFieldUse(const FieldUse& use) {
    m_use = use;
    const auto* m = currentModel();
    const bool classes = m && (m->num_classes > 0 || isIf(m));
    m_prompt->setEnabled(use.prompt && classes);
    const bool two = !use.secondPrompt.isEmpty();
    m_prompt2->setVisible(two);
    m_prompt2Label->setVisible(two);
    m_prompt2->setEnabled(classes);
    if (two) m_prompt2Label->setText(use.secondPrompt);
    m_negative->setVisible(isIf(m));
    m_negativeLabel->setVisible(isIf(m));
    m_guidance->setEnabled(use.guidance && classes);
    m_guidance->setToolTip(m_guidance->isEnabled() ? tr("Classifier-free guidance γ: ε = ε_u + γ(ε_c − ε_u); 1 = no CFG")
                                                   : tr("Not used here (an unconditional model, or a mode without CFG)"));
    m_count->setEnabled(use.samples);
    m_steps->setEnabled(use.steps && m && m->timesteps > 0);
}

std::vector<std::int64_t> SettingsPanel::timestepList() const {
    const auto* m = currentModel();
    if (!m || m->timesteps < 2) return {};
    const int n = std::min(m_steps->value(), m->timesteps);
    if (n == int(m->default_timesteps.size())) return m->default_timesteps;
    // n entries, evenly strided down to 0: stride floor((T-1)/(n-1)) gives the course's lists
    // (990..0 by 30, 297..0 by 9) for n = 34.
    const std::int64_t stride = std::max<std::int64_t>(1, (m->timesteps - 1) / (n - 1));
    std::vector<std::int64_t> list;
    for (int k = n - 1; k >= 0; --k) list.push_back(k * stride);
    return list;
}

int SettingsPanel::steps() const { return m_steps->value(); }

static QString promptOf(const QComboBox* box) {
    // Editable (IF): what is typed; otherwise the item's data (a class index).
    return box->isEditable() ? box->currentText() : box->currentData().toString();
}

ds::SamplerSettings SettingsPanel::samplerSettings() const {
    ds::SamplerSettings s;
    const auto* m = currentModel();
    if (m) s.model = m->path.empty() ? m->id : m->path;
    s.prompt = promptOf(m_prompt).toStdString();
    if (isIf(m)) s.negative_prompt = m_negative->text().toStdString();
    s.guidance = m_guidance->isEnabled() ? m_guidance->value() : -1;
    s.seed = std::uint64_t(m_seed->value());
    s.count = m_count->value();
    // The course's 34-entry list stays implicit (the engine's default), so recipes stay identical.
    if (m && m_steps->value() != int(m->default_timesteps.size()) && m->timesteps > 0) s.timesteps = timestepList();
    return s;
}

RequestContext SettingsPanel::requestContext() const {
    RequestContext c;
    c.sampler = samplerSettings();
    c.model = currentModel();
    c.timesteps = timestepList();
    c.steps = steps();
    c.prompt2 = secondPrompt();
    return c;
}

bool SettingsPanel::openModel(const QString& path, QString* why) {
    try {
        const ds::ModelInfo info = ds::describe_model(path.toStdString());
        if (addModel(info)) return true;
        if (why) *why = tr("a %1, which the Studio cannot play").arg(QString::fromStdString(info.description));
    } catch (const std::exception& e) {
        if (why) *why = QString::fromUtf8(e.what());
    }
    return false;
}

std::string SettingsPanel::secondPrompt() const { return promptOf(m_prompt2).toStdString(); }

static bool setPromptOf(QComboBox* box, const QString& p) {
    if (box->isEditable()) {
        box->setCurrentText(p);
        return true;
    }
    const int i = box->findData(p);
    if (i >= 0) box->setCurrentIndex(i);
    return i >= 0;
}

bool SettingsPanel::setPrompt(const QString& prompt) { return setPromptOf(m_prompt, prompt); }
bool SettingsPanel::setSecondPrompt(const QString& prompt) { return setPromptOf(m_prompt2, prompt); }

void SettingsPanel::newSeedIfUnlocked() {
    if (!m_seedLock->isChecked()) {
        const QSignalBlocker block(m_seed);  // not a change the user made: no live re-run
        m_seed->setValue(QRandomGenerator::global()->bounded(1 << 30));
    }
}

void SettingsPanel::applyRecipe(const ds::RecipeSettings& r, QStringList* unrestored) {
    auto note = [unrestored](const QString& what) {
        if (unrestored) *unrestored << what;
    };
    if (r.seed && *r.seed > std::uint64_t(m_seed->maximum()))
        note(tr("seed %1 (the seed field goes up to %2)").arg(*r.seed).arg(m_seed->maximum()));
    m_seed->setValue(int(std::min<std::uint64_t>(r.seed.value_or(0), std::uint64_t(m_seed->maximum()))));
    m_seedLock->setChecked(true);
    if (r.guidance) m_guidance->setValue(*r.guidance);
    if (r.count) m_count->setValue(*r.count);
    if (!r.timesteps.empty())  // a strided list: its length
        m_steps->setValue(int(r.timesteps.size()));
    else if (r.steps)
        m_steps->setValue(*r.steps);
    else
        m_steps->setValue(kCourseSteps);
    m_negative->setText(QString::fromStdString(r.negative_prompt));
    QStringList prompts;
    for (const auto& p : r.prompts) prompts << QString::fromStdString(p);
    if (!prompts.isEmpty() && !setPrompt(prompts[0])) note(tr("prompt '%1' (the model does not offer it)").arg(prompts[0]));
    if (prompts.size() > 1 && !setSecondPrompt(prompts[1]))
        note(tr("second prompt '%1' (the model does not offer it)").arg(prompts[1]));
}

void SettingsPanel::saveState(QSettings& s) const {
    s.setValue(QStringLiteral("workspace/mode"), m_mode->currentIndex());
    if (const auto* m = currentModel())
        s.setValue(QStringLiteral("workspace/model"), QString::fromStdString(m->path.empty() ? m->id : m->path));
    s.setValue(QStringLiteral("workspace/prompt"), promptOf(m_prompt));
    s.setValue(QStringLiteral("workspace/prompt2"), promptOf(m_prompt2));
    s.setValue(QStringLiteral("workspace/negative"), m_negative->text());
    s.setValue(QStringLiteral("workspace/guidance"), m_guidance->value());
    s.setValue(QStringLiteral("workspace/seed"), m_seed->value());
    s.setValue(QStringLiteral("workspace/seedLock"), m_seedLock->isChecked());
    s.setValue(QStringLiteral("workspace/samples"), m_count->value());
    s.setValue(QStringLiteral("workspace/steps"), m_steps->value());
}

void SettingsPanel::restoreState(const QSettings& s, QStringList* unrestored) {
    if (s.contains(QStringLiteral("workspace/mode"))) m_mode->setCurrentIndex(s.value(QStringLiteral("workspace/mode")).toInt());
    const QString model = s.value(QStringLiteral("workspace/model")).toString();
    if (!model.isEmpty() && !selectModel(model) && unrestored &&
        std::none_of(unrestored->begin(), unrestored->end(), [&](const QString& s) { return s.contains(model); }))
        *unrestored << tr("model '%1'").arg(model);
    m_steps->setValue(s.value(QStringLiteral("workspace/steps"), kCourseSteps).toInt());
    m_count->setValue(s.value(QStringLiteral("workspace/samples"), 4).toInt());
    m_guidance->setValue(s.value(QStringLiteral("workspace/guidance"), m_guidance->value()).toDouble());
    m_seed->setValue(s.value(QStringLiteral("workspace/seed"), 0).toInt());
    m_seedLock->setChecked(s.value(QStringLiteral("workspace/seedLock"), true).toBool());
    m_negative->setText(s.value(QStringLiteral("workspace/negative")).toString());
    if (s.contains(QStringLiteral("workspace/prompt"))) setPrompt(s.value(QStringLiteral("workspace/prompt")).toString());
    if (s.contains(QStringLiteral("workspace/prompt2"))) setSecondPrompt(s.value(QStringLiteral("workspace/prompt2")).toString());
}

}  // namespace ui
