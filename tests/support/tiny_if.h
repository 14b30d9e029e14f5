#pragma once
// Test support shared by the core and GUI suites. No torch in this header.
#include <string>

namespace ds::testing {

// A diffusers-style IF folder in the temp directory (built once): unet/ = the stage I fixture UNet,
// text_encoder/ = a random 2-layer T5 of width 32, tokenizer/spiece.model = the fixture tokenizer,
// model_index.json. Returns its path.
std::string make_tiny_if_folder();
// A stage II folder: unet/ = the stage II fixture UNet. Returns its path.
std::string make_tiny_if_stage2_folder();
// The fixture T5's config.json shrunk to the tiny folder's T5 (d_model 32, 2 layers), as JSON text.
std::string tiny_t5_config_json();

}  // namespace ds::testing
