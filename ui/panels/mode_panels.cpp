#include "ui/panels/mode_panels.h"

#include "ui/panels/anagram_panel.h"
#include "ui/panels/denoise_panel.h"
#include "ui/panels/explore_panel.h"
#include "ui/panels/generate_panel.h"
#include "ui/panels/hybrid_panel.h"
#include "ui/panels/inpaint_panel.h"
#include "ui/panels/sdedit_panel.h"

namespace ui {

QList<ModePanel*> makeModePanels(QWidget* parent) {
    QList<ModePanel*> panels = {new GeneratePanel(parent), new ExplorePanel(parent), new SdeditPanel(parent),
                                new InpaintPanel(parent),  new AnagramPanel(parent), new HybridPanel(parent),
                                new DenoisePanel(parent)};
    for (int i = 0; i < panels.size(); ++i) Q_ASSERT(int(panels[i]->mode()) == i);
    return panels;
}

}  // namespace ui
