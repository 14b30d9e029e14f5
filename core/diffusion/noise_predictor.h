#pragma once
// The one interface every sampler talks to: a model that predicts the noise eps (and, where it
// has them, learned variance channels) of x_t at an integer timestep, under some conditioning.
// The bundled MNIST DDPM models implement it; DeepFloyd IF implements it too.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace ds::diffusion {

// Conditioning of one batch. A sample is unconditional when its label is -1 (MNIST: the zero
// one-hot) or when text embeddings are absent (IF: the "" prompt's embedding).
struct Conditioning {
    std::vector<int> labels;    // class models: one per sample (-1 = unconditional)
    torch::Tensor text;         // text models: [N, L, E] prompt embeddings
    torch::Tensor text_uncond;  // text models: [N or 1, L, E] embeddings of the negative prompt
};

// Concatenates the conditionings of several batches along the batch dimension (labels appended,
// text embeddings cat'ed; a 1-row negative embedding is repeated to the batch it belongs to).
Conditioning concat_conditioning(const std::vector<Conditioning>& parts,
                                 const std::vector<std::int64_t>& batch_sizes);

struct Prediction {
    torch::Tensor eps;       // [N, C, H, W]
    torch::Tensor variance;  // [N, C, H, W] raw variance channels in [-1, 1]; undefined if none
};

class NoisePredictor {
public:
    virtual ~NoisePredictor() = default;
    // alpha_bar_t for t = 0..T-1 (float32 [T]).
    virtual const torch::Tensor& alpha_bars() const = 0;
    // Shape of one sample [C, H, W] and the data range (MNIST [0,1], IF [-1,1]).
    virtual std::vector<std::int64_t> sample_shape() const = 0;
    virtual std::pair<double, double> value_range() const = 0;
    virtual bool has_learned_variance() const { return false; }
    virtual bool is_conditional() const = 0;
    // CFG scale used when a request leaves it open (course: 7 for IF; 5 for the MNIST models).
    virtual double default_guidance() const { return 7.0; }
    // eps at timestep t for each sample. With guidance != 1 on a conditional model this is the
    // CFG combination eps_u + g (eps_c - eps_u), computed in one batched forward; the variance
    // channels come from the conditional pass.
    virtual Prediction predict(const torch::Tensor& x_t, std::int64_t t, const Conditioning& cond,
                               double guidance) = 0;

    // Conditioning of a batch with one prompt per sample. A prompt is what the model is
    // conditioned on: a digit or class name for MNIST class models, text for IF; "" is the
    // unconditional prompt. `negative` is CFG's unconditional prompt (text models). Throws
    // InvalidRequest naming the valid prompts. The default accepts only empty prompts.
    virtual Conditioning encode_prompts(const std::vector<std::string>& prompts,
                                        const std::string& negative);
    // One line saying what prompts mean for this model (for messages and --help).
    virtual std::string prompt_help() const { return "this model takes no prompt"; }

    int num_timesteps() const { return static_cast<int>(alpha_bars().size(0)); }
};

}  // namespace ds::diffusion
