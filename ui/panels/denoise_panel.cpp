#include "ui/panels/denoise_panel.h"

#include <QCheckBox>
#include <QFormLayout>
#include <QLabel>
#include <QSlider>
#include <cmath>

namespace ui {

namespace {
constexpr int kSliderSteps = 100;  // slider units per 1.0 of sigma
constexpr double kMaxSigma = 2.0;
}  // namespace

DenoisePanel::DenoisePanel(QWidget* parent) : ModePanel(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->setRowWrapPolicy(QFormLayout::DontWrapRows);
    m_sigma = new QSlider(Qt::Horizontal, this);
    m_sigma->setObjectName(QStringLiteral("denoiseSigma"));
    m_sigma->setRange(0, int(kMaxSigma * kSliderSteps));
    m_sigma->setValue(kSliderSteps / 2);  // the course's training sigma, 0.5
    m_sigma->setToolTip(tr("Noise level σ of z = x + σ ε; the bundled denoiser was trained at σ = 0.5"));
    m_sigmaLabel = new QLabel(this);
    m_sigmaLabel->setObjectName(QStringLiteral("denoiseSigmaLabel"));
    m_sweep = new QCheckBox(tr("Sweep strip: σ = 0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0"), this);
    m_sweep->setObjectName(QStringLiteral("denoiseSweep"));
    m_sweep->setToolTip(tr("Also denoise the image at the course's out-of-distribution noise levels (1.2.2)"));
    m_pure = new QCheckBox(tr("Pure noise input (z = ε, the canvas is not used)"), this);
    m_pure->setObjectName(QStringLiteral("denoisePureNoise"));
    m_pure->setToolTip(tr("Course 1.2.3: a denoiser trained on pure noise (dstudio train --pure-noise) "
                          "outputs the average training digit whatever the noise"));
    m_live = new QCheckBox(tr("Live: re-run as σ moves or the canvas changes"), this);
    m_live->setObjectName(QStringLiteral("denoiseLive"));
    m_live->setChecked(true);
    form->addRow(tr("σ"), m_sigma);
    form->addRow(QString(), m_sigmaLabel);
    form->addRow(m_sweep);
    form->addRow(m_pure);
    form->addRow(m_live);
    updateLabel();
    connect(m_sigma, &QSlider::valueChanged, this, [this] {
        updateLabel();
        Q_EMIT changed();
    });
    connect(m_sweep, &QCheckBox::toggled, this, &ModePanel::changed);
    connect(m_pure, &QCheckBox::toggled, this, [this] {
        m_sigma->setEnabled(!m_pure->isChecked());
        updateLabel();
        Q_EMIT changed();
    });
}

double DenoisePanel::sigma() const { return double(m_sigma->value()) / kSliderSteps; }
void DenoisePanel::setSigma(double sigma) { m_sigma->setValue(int(std::lround(sigma * kSliderSteps))); }
bool DenoisePanel::sweep() const { return m_sweep->isChecked(); }
void DenoisePanel::setSweep(bool on) { m_sweep->setChecked(on); }
bool DenoisePanel::pureNoise() const { return m_pure->isChecked(); }
void DenoisePanel::setPureNoise(bool on) { m_pure->setChecked(on); }
bool DenoisePanel::live() const { return m_live->isChecked(); }
void DenoisePanel::setLive(bool on) { m_live->setChecked(on); }

void DenoisePanel::updateLabel() {
    m_sigmaLabel->setText(pureNoise() ? tr("z = ε (pure noise)")
                                      : tr("σ = %1%2").arg(sigma(), 0, 'f', 2)
                                            .arg(std::abs(sigma() - 0.5) < 1e-9 ? tr(" (the training σ)")
                                                                                 : QString()));
}

ds::DenoiseRequest DenoisePanel::request(const std::string& model, std::uint64_t seed, int count,
                                         ds::ImageInput input) const {
    ds::DenoiseRequest r;
    r.model = model;
    r.seed = seed;
    r.sigma = sigma();
    r.pure_noise = pureNoise();
    if (r.pure_noise) r.count = count;
    else r.input = std::move(input);
    if (sweep()) r.sweep = sweepSigmas();
    return r;
}

PartARequest DenoisePanel::request(const RequestContext& c) const {
    return request(c.sampler.model, c.sampler.seed, c.sampler.count, c.canvas);
}

FieldUse DenoisePanel::fields(const ds::ModelInfo*) const {
    FieldUse f;
    f.prompt = false;
    f.guidance = false;
    f.steps = false;
    f.samples = pureNoise();  // one output per pure-noise sample; the canvas gives one image
    return f;
}

void DenoisePanel::saveState(QSettings& s) const {
    s.setValue(QStringLiteral("workspace/denoise/sigma"), sigma());
    s.setValue(QStringLiteral("workspace/denoise/sweep"), sweep());
    s.setValue(QStringLiteral("workspace/denoise/pureNoise"), pureNoise());
    s.setValue(QStringLiteral("workspace/denoise/live"), live());
}

void DenoisePanel::restoreState(const QSettings& s) {
    setSigma(s.value(QStringLiteral("workspace/denoise/sigma"), sigma()).toDouble());
    setSweep(s.value(QStringLiteral("workspace/denoise/sweep"), false).toBool());
    setPureNoise(s.value(QStringLiteral("workspace/denoise/pureNoise"), false).toBool());
    setLive(s.value(QStringLiteral("workspace/denoise/live"), true).toBool());
}

void DenoisePanel::applyRecipe(const ds::RecipeSettings& r, QStringList*) {
    if (r.sigma) setSigma(*r.sigma);
    if (r.pure_noise) setPureNoise(*r.pure_noise);
    setSweep(!r.sweep.empty());
}

}  // namespace ui
