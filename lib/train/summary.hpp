#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"
#include "model/sequential.hpp"

namespace nnctl {

struct LayerSummary {
    std::string name, type;
    Shape output;
    int64_t params = 0;
    bool trainable = true;
    std::vector<std::string> inputs;  ///< the layers (or model inputs) it reads
};

/// Keras-like model summary plus the memory a training run needs.
struct ModelSummary {
    std::string name;
    Shape input;
    std::vector<LayerSummary> layers;
    bool graph = false;  ///< not a plain chain: the summary shows what each layer reads
    std::vector<std::pair<std::string, Shape>> inputs;  ///< the named model inputs (graph only)
    std::vector<std::string> outputs;  ///< the output layers (several outputs only), with their losses
    std::vector<std::string> output_losses;
    int64_t total = 0, trainable = 0, non_trainable = 0;
    int batch_size = 0;
    int optimizer_slots = 0;     ///< state tensors per parameter (adam: 2, sgd with momentum: 1, ...)
    double weights_bytes = 0;    ///< weights + gradients + optimizer state
    double activations_bytes = 0;  ///< forward outputs and backward gradients for one batch
    double data_bytes = 0;       ///< the training data in memory (when known)
    double total_bytes() const { return weights_bytes + activations_bytes + data_bytes; }
};

/// Summarize `model` as `cfg` trains it; `data_rows` × input features estimate the data's memory.
ModelSummary summarize(Sequential& model, const ExperimentConfig& cfg, int64_t data_rows);
/// Optimizer state tensors per parameter for this optimizer's settings.
int optimizer_slots(const OptimizerSpec& o);

}  // namespace nnctl
