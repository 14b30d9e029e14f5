#pragma once
// The result side of the Studio: the live frames (x_t, the clean estimate, and for anagrams the
// estimate through the second view) with a trajectory scrubber, the labelled figure or a
// compare view (slider or side by side), and the export / save / re-run buttons.
#include <QImage>
#include <QWidget>

#include "ui/bridge/engine_worker.h"
#include "ui/panels/mode_panel.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QStackedWidget;

namespace ui {

class CompareView;

class ResultsPanel : public QWidget {
    Q_OBJECT
public:
    explicit ResultsPanel(QWidget* parent = nullptr);

    void beginRun(Mode mode);  // a new job: the anagram view box shows for anagrams only
    void showFrame(const QImage& xt, const QImage& x0, int step, int total, double t);
    void showFrameViews(const QStringList& names, const QList<QImage>& views);
    void showOutput(const PartAOutput& out);
    void showFigure(const QImage& figure, const QString& recipe);  // e.g. a history entry
    // Hybrid images: the result images as seen from further away (0 = the figure itself).
    void setViewingDistance(int distance);

    QImage lastFigure() const { return m_lastFigure; }
    QString lastRecipe() const { return m_lastRecipe; }
    const PartAOutput& lastOutput() const { return m_last; }
    CompareView* compareView() const { return m_compare; }
    void setResultView(int index);  // 0 = labelled figure, 1 = compare slider, 2 = side by side
    bool setCompare(const QString& a, const QString& b);
    QStringList compareChoices() const;

public Q_SLOTS:
    void exportGif();
    void exportStrip();
    void saveResult();

Q_SIGNALS:
    void status(QString text);
    void rerunRequested();  // "Re-run & compare"

protected:
    void resizeEvent(QResizeEvent* event) override;  // the figure and frames are re-fitted

private:
    QPixmap fitted(const QImage& image, const QLabel* view) const;
    void showScrubbed(int index);
    void updateCompare();

    Mode m_mode = Mode::Generate;
    QLabel* m_xt = nullptr;
    QLabel* m_x0 = nullptr;
    QLabel* m_figure = nullptr;
    QLabel* m_viewLive = nullptr;  // anagram: x0 estimate through the second view, live
    QWidget* m_viewBox = nullptr;
    QLabel* m_viewCaption = nullptr;
    QLabel* m_xtCaption = nullptr;
    CompareView* m_compare = nullptr;
    QStackedWidget* m_resultStack = nullptr;
    QComboBox* m_resultView = nullptr;
    QComboBox* m_compareA = nullptr;
    QComboBox* m_compareB = nullptr;
    QWidget* m_compareRow = nullptr;
    QSlider* m_scrubber = nullptr;
    QCheckBox* m_scrubX0 = nullptr;
    PartAOutput m_last;
    QImage m_lastFigure;
    QString m_lastRecipe;
    int m_distance = 0;
};

}  // namespace ui
