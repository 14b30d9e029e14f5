#pragma once
// SDEdit and inpainting strength as the timestep t the run starts from (0 = the input untouched,
// T-1 = pure noise). The engine takes i_start, a position in the strided list; the slider keeps t,
// so changing the Steps field moves i_start, not the strength (the nearest entry of the list is
// used and shown).
#include <QWidget>
#include <cstdint>
#include <vector>

class QLabel;
class QSlider;

namespace ui {

class StrengthSlider : public QWidget {
    Q_OBJECT
public:
    explicit StrengthSlider(const QString& objectName, QWidget* parent = nullptr);

    // The model's T and alpha-bars, and the current strided list (descending, ending at 0).
    void setSchedule(int timesteps, std::vector<double> alphaBars, std::vector<std::int64_t> list);
    int t() const;  // the slider's t
    void setT(int t);
    // The list position whose t is nearest the slider's (ties: the noisier); 0 without a list.
    int iStart() const;
    // Sets the slider to the t of list position i (from a recipe); false when i is not in the list.
    bool setIStart(int i);
    QSlider* slider() const { return m_slider; }

Q_SIGNALS:
    void changed();

private:
    void updateLabel();
    QSlider* m_slider = nullptr;
    QLabel* m_label = nullptr;
    std::vector<double> m_alphaBars;
    std::vector<std::int64_t> m_list;
    int m_pending = -1;
    bool m_initialised = false;  // a schedule was set once (the default t is chosen then)  // setT beyond the range: applied once the schedule is known
};

}  // namespace ui
