// ds-make-if-folder: writes a DeepFloyd IF folder with random weights at a given config, in the
// model hub's layout (docs/deepfloyd-if.md, "Real scale, end to end").
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/bench/if_folder_writer.h"

int main(int argc, char** argv) {
    CLI::App app{"Writes a DeepFloyd IF folder with random weights in the model hub's layout.\n"
                 "Stage I (IF-I-XL):  ds-make-if-folder --unet-config assets/configs/if-i-xl-unet.json "
                 "--t5-config assets/configs/t5-v1_1-xxl.json --out IF-I-XL-random\n"
                 "Stage II (IF-II-L): ds-make-if-folder --unet-config assets/configs/if-ii-l-unet.json --out IF-II-L-random",
                 "ds-make-if-folder"};
    ds::bench::IfFolderOptions o;
    std::vector<std::string> unet_forms = {"fp16"}, t5_forms = {"fp16-sharded"};
    double shard_gb = 10;
    app.add_option("--out", o.out, "folder to write (must not exist, or be empty)")->required();
    app.add_option("--unet-config", o.unet_config, "the UNet's config.json")->required();
    app.add_option("--t5-config", o.t5_config, "the text encoder's config.json (stage I only)");
    app.add_option("--tokenizer", o.tokenizer,
                   "spiece.model to copy (default: a small unigram model trained here stands in)");
    app.add_option("--unet-forms", unet_forms, "fp32, fp16, fp32-sharded, fp16-sharded (default fp16)")->delimiter(',');
    app.add_option("--t5-forms", t5_forms, "the same for the text encoder (default fp16-sharded)")->delimiter(',');
    app.add_option("--shard-gb", shard_gb, "largest shard in GB (default 10, as transformers)")->check(CLI::PositiveNumber);
    app.add_option("--seed", o.seed, "seed of the random weights (default 0)");
    CLI11_PARSE(app, argc, argv);
    try {
        o.unet_forms.clear();
        for (const auto& f : unet_forms) o.unet_forms.push_back(ds::bench::parse_weight_form(f));
        o.t5_forms.clear();
        for (const auto& f : t5_forms) o.t5_forms.push_back(ds::bench::parse_weight_form(f));
        o.shard_bytes = std::uint64_t(shard_gb * 1e9);
        const auto start = std::chrono::steady_clock::now();
        o.on_file = [&](const std::string& line) {
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::fprintf(stderr, "[%6.1f s] %s\n", s, line.c_str());
        };
        const auto report = ds::bench::write_random_if_folder(o);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("wrote %s: %zu files, %.2f GB of weights in %.1f s\n", o.out.c_str(), report.files.size(),
                    double(report.bytes) / 1e9, s);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
